import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Driver } from '../src/db/driver.js';
import { MysqlDriver } from '../src/db/mysql.js';
import { SqliteDriver } from '../src/db/sqlite.js';
import { eventually, ok } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { call, next, signedUp, startOn, tempApp, type TestServer } from './support/util.js';

const SRC_INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** SPEC §5: ctx.db.transaction in hooks, on both drivers. */
const SCHEMA = {
  sqlite: `CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY, account INTEGER NOT NULL REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED);
`,
  mysql: `CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS log (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100) NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS cards (id INT PRIMARY KEY, account INT NOT NULL, FOREIGN KEY (account) REFERENCES accounts (id)) ENGINE=InnoDB;
`,
};

const ROUTES = `
auth: { bcryptCost: 4 }
routes:
  accounts.open:
    params: { type: object, properties: { id: { type: integer }, balance: { type: integer } }, required: [id, balance] }
    auth: required
    sql: INSERT INTO accounts (id, owner, balance) VALUES (:id, :auth.name, :balance)
  accounts.list:
    sql: SELECT id, owner, balance FROM accounts ORDER BY id
  transfer:
    auth: required
    params: { type: object, properties: { from: { type: integer }, to: { type: integer }, amount: { type: integer } }, required: [from, to, amount] }
    hook: ./hooks.ts#transfer
  broken:
    params: { type: object, properties: { why: { type: string } }, required: [why] }
    hook: ./hooks.ts#broken
  hold:
    params: { type: object, properties: { name: { type: string }, fail: { type: boolean } }, required: [name] }
    hook: ./hooks.ts#hold
  gate.open:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    hook: ./hooks.ts#openGate
  log.add:
    params: { type: object, properties: { what: { type: string } }, required: [what] }
    sql: INSERT INTO log (what) VALUES (:what)
  log.addTwo:
    params: { type: object, properties: { what: { type: string } }, required: [what] }
    sql:
      - INSERT INTO log (what) VALUES (:what)
      - INSERT INTO log (what) VALUES (:what)
    result: none
  log.list:
    sql: SELECT what FROM log ORDER BY id
`;

const HOOKS = `
import { SockeyError, type HookContext, type SignedInHookContext } from ${JSON.stringify(SRC_INDEX)};

type Transfer = { from: number; to: number; amount: number };

/** Moves money between two accounts of the caller: the value of transaction() is the reply. */
export async function transfer(ctx: SignedInHookContext<Transfer>) {
  return ctx.db.transaction(async (tx) => {
    const { from, to, amount } = ctx.params;
    await tx.execute('UPDATE accounts SET balance = balance - :amount WHERE id = :from AND owner = :auth.name', { from, amount });
    const moved = await tx.execute('UPDATE accounts SET balance = balance + :amount WHERE id = :to AND owner = :auth.name', { to, amount });
    await tx.execute('INSERT INTO log (what) VALUES (:what)', { what: 'transfer ' + amount });
    const [row] = await tx.query<{ balance: number }>('SELECT balance FROM accounts WHERE id = :from', { from });
    if (row!.balance < 0) throw new SockeyError('CONFLICT', 'Not enough money.', { balance: row!.balance });
    return { moved: moved.affectedRows, left: row!.balance };
  });
}

/** Writes, then fails in the way asked; nothing it wrote must stay. */
export async function broken(ctx: HookContext<{ why: string }>) {
  return ctx.db.transaction(async (tx) => {
    await tx.execute('INSERT INTO log (what) VALUES (:why)', ctx.params);
    if (ctx.params.why === 'throw') throw new Error('boom');
    if (ctx.params.why === 'reject') return Promise.reject(new TypeError('rejected'));
    if (ctx.params.why === 'sql') await tx.execute('INSERT INTO no_such_table (x) VALUES (1)');
    if (ctx.params.why === 'ctx.db') await ctx.db.query('SELECT 1');
    // SQLite checks this deferred foreign key at COMMIT (MariaDB at the INSERT).
    if (ctx.params.why === 'commit') await tx.execute('INSERT INTO cards (id, account) VALUES (1, 999)');
    return 'kept';
  });
}

const gates = new Map<string, () => void>();
const opened = new Set<string>();
const gate = (name: string) => (opened.has(name) ? Promise.resolve() : new Promise<void>((r) => gates.set(name, r)));

/** A transaction that writes, tells the caller it holds, waits for its gate, writes again, and fails when asked. */
export async function hold(ctx: HookContext<{ name: string; fail?: boolean }>) {
  const { name } = ctx.params;
  return ctx.db.transaction(async (tx) => {
    await tx.execute('INSERT INTO log (what) VALUES (:what)', { what: name + ' start' });
    ctx.emit('self', name, 'holding');
    await gate(name);
    await tx.execute('INSERT INTO log (what) VALUES (:what)', { what: name + ' end' });
    if (ctx.params.fail) throw new SockeyError('CONFLICT', 'Changed my mind.');
    return name;
  });
}

export function openGate(ctx: HookContext<{ name: string }>) {
  opened.add(ctx.params.name);
  gates.get(ctx.params.name)?.();
  return true;
}
`;

const whats = async (s: Awaited<ReturnType<TestServer['client']>>) => ((await call(s, 'log.list', {})).res as Array<{ what: string }>).map((r) => r.what);

describe.each(['sqlite', 'mysql'] as const)('ctx.db.transaction on %s', (driver) => {
  let t: (TestServer & { dbUrl?: string }) | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function start() {
    return (t = await startOn(driver, ROUTES, { 'schema.sql': SCHEMA[driver], 'hooks.ts': HOOKS }, { pool: 4 }));
  }

  it('commits when the function resolves; its value is the reply; tx binds named params and :auth.name', async () => {
    const t = await start();
    const ann = await signedUp(t, 'ann');
    await call(ann, 'accounts.open', { id: 1, balance: 100 });
    await call(ann, 'accounts.open', { id: 2, balance: 0 });
    expect(await call(ann, 'transfer', { from: 1, to: 2, amount: 30 })).toEqual(ok({ moved: 1, left: 70 }));
    expect(await call(ann, 'accounts.list', {})).toEqual(
      ok([
        { id: 1, owner: 'ann', balance: 70 },
        { id: 2, owner: 'ann', balance: 30 },
      ]),
    );
    expect(await whats(ann)).toEqual(['transfer 30']);
  });

  it('a SockeyError thrown inside rolls back and reaches the client with its code', async () => {
    const t = await start();
    const ann = await signedUp(t, 'ann');
    await call(ann, 'accounts.open', { id: 1, balance: 10 });
    await call(ann, 'accounts.open', { id: 2, balance: 0 });
    expect(await call(ann, 'transfer', { from: 1, to: 2, amount: 30 })).toEqual({ ok: false, err: 'Not enough money.', res: false, code: 'CONFLICT', details: { balance: -20 } });
    expect(await call(ann, 'accounts.list', {})).toEqual(
      ok([
        { id: 1, owner: 'ann', balance: 10 },
        { id: 2, owner: 'ann', balance: 0 },
      ]),
    );
    expect(await whats(ann)).toEqual([]);
  });

  it('rolls back on a throw, a rejection, a failing statement, or ctx.db used inside; the rows are not there after', async () => {
    const t = await start();
    const s = await t.client();
    expect(await call(s, 'broken', { why: 'throw' })).toEqual({ ok: false, err: 'Internal error.', res: false, code: 'INTERNAL' });
    expect(await call(s, 'broken', { why: 'reject' })).toEqual({ ok: false, err: 'Internal error.', res: false, code: 'INTERNAL' });
    expect(await call(s, 'broken', { why: 'sql' })).toEqual({ ok: false, err: 'Database error.', res: false, code: 'DB_ERROR' });
    expect(await call(s, 'broken', { why: 'ctx.db' })).toEqual({ ok: false, err: 'Internal error.', res: false, code: 'INTERNAL' });
    expect(t.logs.text()).toMatch(/ctx\.db is not usable inside ctx\.db\.transaction/);
    expect(await whats(s)).toEqual([]);
    // The connection is usable, and a transaction that resolves keeps its row.
    expect(await call(s, 'broken', { why: 'none' })).toEqual(ok('kept'));
    expect(await whats(s)).toEqual(['none']);
  });

  it('a commit that fails is rolled back: DB_ERROR, and what runs next is committed on its own', async () => {
    const t = await start();
    const s = await t.client();
    expect(await call(s, 'broken', { why: 'commit' })).toEqual({ ok: false, err: 'Database error: a constraint was violated.', res: false, code: 'DB_ERROR', details: { reason: 'constraint' } });
    expect(await call(s, 'log.add', { what: 'after' })).toMatchObject(ok({ affectedRows: 1 }));
    // Read through a connection of the test's own: it sees only committed rows.
    let seen: unknown[];
    if (driver === 'mysql') {
      const conn = await mysql.createConnection(t!.dbUrl!);
      [seen] = (await conn.query('SELECT what FROM log ORDER BY id')) as unknown as [unknown[]];
      await conn.end();
    } else {
      const db = new Database(path.join(t.dir, 'db.sqlite'), { readonly: true });
      seen = db.prepare('SELECT what FROM log ORDER BY id').all();
      db.close();
    }
    expect(seen).toEqual([{ what: 'after' }]);
  });

  it("another message's write while a transaction waits is not rolled back with it", async () => {
    const t = await start();
    const [a, b] = [await t.client(), await t.client()];
    const holding = next(a, 'holding');
    const held = call(a, 'hold', { name: 'one', fail: true });
    expect(await holding).toEqual(ok('one'));
    // Sent in this order on one socket: the write reaches the server before the gate opens.
    const outside = call(b, 'log.add', { what: 'outside' });
    expect(await call(b, 'gate.open', { name: 'one' })).toEqual(ok(true));
    expect(await held).toEqual({ ok: false, err: 'Changed my mind.', res: false, code: 'CONFLICT' });
    expect(await outside).toMatchObject(ok({ affectedRows: 1 }));
    expect(await whats(b)).toEqual(['outside']);
  });

  it.runIf(driver === 'sqlite')('SQLite: statements issued while a transaction waits run after it ends, in the order they came', async () => {
    const t = await start();
    const [a, b] = [await t.client(), await t.client()];
    const holding = next(a, 'holding');
    const held = call(a, 'hold', { name: 'one' });
    await holding;
    const single = call(b, 'log.add', { what: 'single' });
    const list = call(b, 'log.addTwo', { what: 'list' });
    expect(await call(b, 'gate.open', { name: 'one' })).toEqual(ok(true));
    expect(await held).toEqual(ok('one'));
    expect(await single).toMatchObject(ok({ affectedRows: 1 }));
    expect(await list).toEqual(ok(null));
    // Without the wait they would have run inside the open transaction, between its two writes.
    expect(await whats(b)).toEqual(['one start', 'one end', 'single', 'list', 'list']);
  });

  it.runIf(driver === 'sqlite')('SQLite: two hook transactions at once run one after the other', async () => {
    const t = await start();
    const [a, c] = [await t.client(), await t.client()];
    const first = next(a, 'holding');
    const one = call(a, 'hold', { name: 'one' });
    await first;
    const second = next(c, 'holding');
    // On one socket: the second transaction is asked for before the first one's gate opens.
    const two = call(c, 'hold', { name: 'two' });
    expect(await call(c, 'gate.open', { name: 'one' })).toEqual(ok(true));
    expect(await one).toEqual(ok('one'));
    expect(await second).toEqual(ok('two'));
    expect(await call(a, 'gate.open', { name: 'two' })).toEqual(ok(true));
    expect(await two).toEqual(ok('two'));
    expect(await whats(a)).toEqual(['one start', 'one end', 'two start', 'two end']);
  });
});

describe.each(['sqlite', 'mysql'] as const)('a transaction left open on %s', (driver) => {
  let db: Driver | undefined;
  let cleanup: (() => unknown) | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
    await cleanup?.();
    cleanup = undefined;
  });

  it('is rolled back after its timeout; its later statements fail, and the others go on', async () => {
    if (driver === 'mysql') {
      const test = await createTestDatabase();
      cleanup = test.drop;
      db = new MysqlDriver(test.url, 2, 100);
    } else {
      const app = tempApp({});
      cleanup = app.cleanup;
      db = new SqliteDriver(path.join(app.dir, 'db.sqlite'), { transactionTimeoutMs: 100 });
    }
    await db.exec(SCHEMA[driver]);
    const tx = await db.begin();
    await tx.run('INSERT INTO log (what) VALUES (?)', ['in the transaction']);
    // On SQLite this waits for the transaction to end: here, until the timeout rolls it back. MariaDB's does not wait.
    await db.run('INSERT INTO log (what) VALUES (?)', ['outside']);
    const state = () =>
      tx.run('SELECT 1', []).then(
        () => 'open',
        (e: { code?: string }) => e.code,
      );
    expect(await eventually(state, (s) => s !== 'open', 'the timeout to end the transaction')).toBe('DB_ERROR');
    await expect(tx.run('INSERT INTO log (what) VALUES (?)', ['too late'])).rejects.toMatchObject({ code: 'DB_ERROR' });
    await expect(tx.commit()).rejects.toMatchObject({ code: 'DB_ERROR' });
    await tx.rollback();
    const rows = await db.run('SELECT what FROM log ORDER BY id', []);
    expect(rows.rows).toEqual([{ what: 'outside' }]);
  });
});

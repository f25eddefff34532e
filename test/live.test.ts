import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { flush, ok, record } from './support/flow.js';
import { armWatcher, untilReloads } from './support/reload-util.js';
import { watchServer } from '../src/reload/watcher.js';
import { call, next, signedUp, startOn, tempApp, type TestServer } from './support/util.js';
import { cli } from '../src/cli/index.js';

/** SPEC §7: live queries, on both drivers. */
const SCHEMA = {
  sqlite: `CREATE TABLE IF NOT EXISTS members (board_id INTEGER NOT NULL, user_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY AUTOINCREMENT, board_id INTEGER NOT NULL, title TEXT NOT NULL);
`,
  mysql: `CREATE TABLE IF NOT EXISTS members (board_id INT NOT NULL, user_id INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS cards (id INT AUTO_INCREMENT PRIMARY KEY, board_id INT NOT NULL, title VARCHAR(100) NOT NULL) ENGINE=InnoDB;
`,
};

const board = `{ type: object, properties: { board: { type: integer } }, required: [board], additionalProperties: false }`;
const card = `{ type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title], additionalProperties: false }`;

const live = (extra = '') => `
auth: { bcryptCost: 4 }
server: { playground: true }
guards:
  member: SELECT 1 FROM members WHERE board_id = :board AND user_id = :auth.id
routes:
  me: { auth: required, reply: { id: "{{auth.id}}" } }
  member.add:
    auth: required
    params: ${board}
    sql: INSERT INTO members (board_id, user_id) VALUES (:board, :auth.id)
  member.remove:
    auth: required
    params: { type: object, properties: { board: { type: integer }, user: { type: integer } }, required: [board, user] }
    sql: DELETE FROM members WHERE board_id = :board AND user_id = :user
  cards.live:
    auth: required
    guard: member
    params: ${board}
    live: true
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
  cards.mine:
    auth: required
    guard: member
    params: ${board}
    live: true
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
    reply: { me: "{{auth.name}}", cards: "{{res}}" }
  cards.add:
    auth: required
    params: ${card}
    sql: INSERT INTO cards (board_id, title) VALUES (:board, :title)
  cards.rename:
    auth: required
    params: { type: object, properties: { id: { type: integer }, title: { type: string } }, required: [id, title] }
    sql: UPDATE cards SET title = :title WHERE id = :id
  cards.pair:
    auth: required
    params: ${card}
    sql:
      - INSERT INTO cards (board_id, title) VALUES (:board, :title)
      - INSERT INTO cards (board_id, title) VALUES (:board, :title)
  cards.broken:
    auth: required
    params: ${card}
    sql:
      - INSERT INTO cards (board_id, title) VALUES (:board, :title)
      - INSERT INTO cards (board_id, title) VALUES (:board, NULL)
  cards.hook:
    auth: required
    params: ${card}
    hook: ./cards.mjs#add
  cards.hookRollback:
    auth: required
    params: ${card}
    hook: ./cards.mjs#addThenThrow
${extra}`;

const HOOKS = `export async function add(ctx) {
  return ctx.db.query('INSERT INTO cards (board_id, title) VALUES (:board, :title)', ctx.params);
}
export async function addThenThrow(ctx) {
  await ctx.db.transaction(async (tx) => {
    await tx.query('INSERT INTO cards (board_id, title) VALUES (:board, :title)', ctx.params);
    throw new Error('changed my mind');
  });
}
`;

interface Row {
  id: number;
  title: string;
}
const titles = (rows: Row[]) => rows.map((r) => r.title);
/** The `cards.live_data` pushes a socket received, as lists of titles. */
const pushes = (seen: ReturnType<typeof record>) => seen.filter((e) => e.event === 'cards.live_data').map((e) => titles((e.payload as { res: Row[] }).res));

describe.each(['sqlite', 'mysql'] as const)('live queries on %s (SPEC §7)', (driver) => {
  let t: (TestServer & { dbUrl?: string }) | undefined;
  let stop: (() => unknown) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
    await t?.close();
    t = undefined;
  });

  async function start(extra = ''): Promise<TestServer & { dbUrl?: string }> {
    t = await startOn(driver, live(extra), { 'schema.sql': SCHEMA[driver], 'cards.mjs': HOOKS });
    return t;
  }

  /** A signed-in member of the boards, subscribed to the first one; what it receives from then on. */
  async function subscriber(t: TestServer, name: string, boards: number[], to = boards[0]!): Promise<{ s: ClientSocket; seen: ReturnType<typeof record>; first: Row[] }> {
    const s = await signedUp(t, name);
    for (const b of boards) expect(await call(s, 'member.add', { board: b })).toMatchObject({ ok: true });
    const seen = record(s);
    const r = await call(s, 'cards.live', { board: to });
    expect(r).toMatchObject({ ok: true });
    return { s, seen, first: r.res };
  }

  /** Runs SQL on the server's database from outside sockey. */
  async function outside(t: TestServer & { dbUrl?: string }, sql: string): Promise<void> {
    if (driver === 'sqlite') {
      const db = new Database(`${t.dir}/db.sqlite`);
      db.exec(sql);
      db.close();
    } else {
      const c = await mysql.createConnection(t.dbUrl!);
      await c.query(sql);
      await c.end();
    }
  }

  it('a write pushes the new result to the subscribers of the params it changes, once each, and to no one else', async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1, 2]);
    const b = await subscriber(t, 'bob', [1]);
    const c = await subscriber(t, 'carol', [2]);
    expect(a.first).toEqual([]);

    const writer = await signedUp(t, 'dave');
    const updateA = next(a.s, 'cards.live_data');
    const updateB = next(b.s, 'cards.live_data');
    expect(await call(writer, 'cards.add', { board: 1, title: 'one' })).toEqual(ok({ affectedRows: 1, insertId: expect.anything() }));
    // A push is the reply's envelope plus the params of its subscription (a socket may hold several).
    expect(await updateA).toEqual({ ...ok([{ id: expect.any(Number), title: 'one' }]), params: { board: 1 } });
    expect(await updateB).toEqual({ ...ok([{ id: expect.any(Number), title: 'one' }]), params: { board: 1 } });
    // Board 2's subscriber sees its own board's change first: it got nothing for board 1.
    const updateC = next(c.s, 'cards.live_data');
    await call(writer, 'cards.add', { board: 2, title: 'two' });
    expect((await updateC).res).toEqual([{ id: expect.any(Number), title: 'two' }]);
    await flush(a.s, b.s, c.s);
    expect(pushes(a.seen)).toEqual([['one']]);
    expect(pushes(b.seen)).toEqual([['one']]);
    expect(pushes(c.seen)).toEqual([['two']]);

    // Multiplexed: board 1's two subscribers share one re-run per write.
    const state = (await (await fetch(`${t.url}/_sockey/state.json`)).json()) as { live: { subscriptions: unknown[]; stats: unknown } };
    expect(state.live.subscriptions).toEqual(
      expect.arrayContaining([
        { event: 'cards.live', params: { board: 1 }, subscribers: 2 },
        { event: 'cards.live', params: { board: 2 }, subscribers: 1 },
      ]),
    );
    expect(state.live.stats).toMatchObject({ subscriptions: 3, groups: 2, reruns: 2, pushes: 3 });
  });

  it('a write that changes nothing visible pushes nothing; one that binds no key re-runs every board but pushes only where the result changed', async () => {
    const t = await start();
    const writer = await signedUp(t, 'dave');
    await call(writer, 'cards.add', { board: 1, title: 'one' });
    const a = await subscriber(t, 'alice', [1]);
    const c = await subscriber(t, 'carol', [2]);
    const id = a.first[0]!.id;
    // Same title: the row is written, the result is the same.
    expect(await call(writer, 'cards.rename', { id, title: 'one' })).toMatchObject({ ok: true });
    // An UPDATE by id binds no board: both boards re-run, only board 1's result changes.
    const update = next(a.s, 'cards.live_data');
    await call(writer, 'cards.rename', { id, title: 'uno' });
    expect((await update).res).toEqual([{ id, title: 'uno' }]);
    await flush(a.s, c.s);
    expect(pushes(a.seen)).toEqual([['uno']]);
    expect(pushes(c.seen)).toEqual([]);
  });

  it('a reply that reads the user groups subscriptions per user: each gets its own result', async () => {
    const t = await start();
    const a = await signedUp(t, 'alice');
    const b = await signedUp(t, 'bob');
    for (const s of [a, b]) await call(s, 'member.add', { board: 1 });
    expect((await call(a, 'cards.mine', { board: 1 })).res).toEqual({ me: 'alice', cards: [] });
    expect((await call(b, 'cards.mine', { board: 1 })).res).toEqual({ me: 'bob', cards: [] });
    const atA = next(a, 'cards.mine_data');
    const atB = next(b, 'cards.mine_data');
    await call(a, 'cards.add', { board: 1, title: 'one' });
    expect((await atA).res).toEqual({ me: 'alice', cards: [{ id: expect.any(Number), title: 'one' }] });
    expect((await atB).res).toEqual({ me: 'bob', cards: [{ id: expect.any(Number), title: 'one' }] });
  });

  it('a statement list is one write: one push with both rows', async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1]);
    const update = next(a.s, 'cards.live_data');
    expect(await call(a.s, 'cards.pair', { board: 1, title: 'twin' })).toMatchObject({ ok: true });
    expect(titles((await update).res)).toEqual(['twin', 'twin']);
    await flush(a.s);
    expect(pushes(a.seen)).toEqual([['twin', 'twin']]);
  });

  it("a hook's write pushes; a rolled-back list or hook transaction pushes nothing", async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1]);
    expect(await call(a.s, 'cards.broken', { board: 1, title: 'lost' })).toMatchObject({ ok: false, code: 'DB_ERROR' });
    expect(await call(a.s, 'cards.hookRollback', { board: 1, title: 'lost too' })).toMatchObject({ ok: false, code: 'INTERNAL' });
    const update = next(a.s, 'cards.live_data');
    expect(await call(a.s, 'cards.hook', { board: 1, title: 'hooked' })).toMatchObject({ ok: true });
    expect(titles((await update).res)).toEqual(['hooked']);
    await flush(a.s);
    expect(pushes(a.seen)).toEqual([['hooked']]);
  });

  it('unsubscribe stops one subscription; disconnect ends them; the others go on', async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1, 2]);
    expect(await call(a.s, 'cards.live', { board: 2 })).toMatchObject({ ok: true });
    const b = await subscriber(t, 'bob', [1]);
    expect(await call(a.s, 'live', { type: 'unsubscribe', event: 'cards.live', params: { board: 1 } })).toEqual(ok({ unsubscribed: 1 }));
    expect(await call(a.s, 'live', { type: 'unsubscribe', event: 'cards.live', params: { board: 1 } })).toEqual(ok({ unsubscribed: 0 }));
    expect(await call(a.s, 'live', { type: 'unsubscribe', event: 'cards.add', params: {} })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(await call(a.s, 'live', { type: 'unsubscribe', event: 'cards.live', params: { board: 'x' } })).toMatchObject({ ok: false, code: 'VALIDATION' });

    const writer = await signedUp(t, 'dave');
    const updateB = next(b.s, 'cards.live_data');
    await call(writer, 'cards.add', { board: 1, title: 'one' });
    await updateB;
    // Still subscribed to board 2.
    const updateA = next(a.s, 'cards.live_data');
    await call(writer, 'cards.add', { board: 2, title: 'two' });
    expect(titles((await updateA).res)).toEqual(['two']);
    expect((await updateA).params).toEqual({ board: 2 });
    await flush(a.s);
    expect(pushes(a.seen)).toEqual([['two']]);

    b.s.disconnect();
    await call(writer, 'cards.add', { board: 1, title: 'after' });
    const state = (await (await fetch(`${t.url}/_sockey/state.json`)).json()) as { live: { subscriptions: unknown[]; stats: unknown } };
    expect(state.live.subscriptions).toEqual([{ event: 'cards.live', params: { board: 2 }, subscribers: 1 }]);
  });

  it('sign-out ends the subscriptions made as that user, with LIVE_ENDED on the route’s error event', async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1]);
    const ended = next(a.s, 'cards.live_error');
    expect(await call(a.s, 'auth', { type: 'logout' })).toMatchObject({ ok: true });
    expect(await ended).toEqual({ ok: false, err: 'Live query ended: signed out.', res: false, code: 'LIVE_ENDED', details: { reason: 'signed-out', event: 'cards.live', params: { board: 1 } } });
    const writer = await signedUp(t, 'dave');
    await call(writer, 'cards.add', { board: 1, title: 'one' });
    await flush(a.s);
    expect(pushes(a.seen)).toEqual([]);
  });

  it('a member removed from the board stops receiving it (the guard is checked again when its tables change)', async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1]);
    const b = await subscriber(t, 'bob', [1]);
    const bobId = Number((await call(b.s, 'me')).res.id);
    const ended = next(b.s, 'cards.live_error');
    expect(await call(a.s, 'member.remove', { board: 1, user: bobId })).toMatchObject({ ok: true, res: { affectedRows: 1 } });
    expect((await ended).details).toEqual({ reason: 'forbidden', event: 'cards.live', params: { board: 1 } });
    const update = next(a.s, 'cards.live_data');
    await call(a.s, 'cards.add', { board: 1, title: 'secret' });
    expect(titles((await update).res)).toEqual(['secret']);
    await flush(b.s);
    expect(pushes(b.seen)).toEqual([]);
    // Subscribing again is refused like any guarded read.
    expect(await call(b.s, 'cards.live', { board: 1 })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });

  it('a reload that changes the route re-runs it for its subscribers; one that makes it not live ends them', async () => {
    const t = await start();
    const a = await subscriber(t, 'alice', [1]);
    const first = next(a.s, 'cards.live_data');
    await call(a.s, 'cards.add', { board: 1, title: 'one' });
    await first;
    const watching = watchServer(t.server);
    stop = () => watching.close();
    await armWatcher(t);
    const manifest = readFileSync(path.join(t.dir, 'sockey.yaml'), 'utf8');
    const changed = next(a.s, 'cards.live_data');
    t.write('sockey.yaml', manifest.replace('SELECT id, title FROM cards WHERE board_id = :board ORDER BY id', 'SELECT id, UPPER(title) AS title FROM cards WHERE board_id = :board ORDER BY id'));
    await untilReloads(t, 1);
    expect(titles((await changed).res)).toEqual(['ONE']);

    const ended = next(a.s, 'cards.live_error');
    t.write('sockey.yaml', manifest.replace('    live: true\n', ''));
    await untilReloads(t, 2);
    expect((await ended).details).toMatchObject({ reason: 'removed' });
    await call(a.s, 'cards.add', { board: 1, title: 'two' });
    await flush(a.s);
    expect(pushes(a.seen)).toEqual([['one'], ['ONE']]);
  });

  it('poll: re-runs for writes made outside sockey; diff: pushes the changed rows and the removed keys', async () => {
    const t = await start(`
  cards.polled:
    auth: required
    params: ${board}
    live: { poll: 200ms }
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
  cards.diff:
    auth: required
    params: ${board}
    live: { diff: id }
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
`);
    const s = await signedUp(t, 'alice');
    expect(await call(s, 'cards.polled', { board: 1 })).toEqual(ok([]));
    const polled = next(s, 'cards.polled_data', 3000);
    await outside(t, "INSERT INTO cards (board_id, title) VALUES (1, 'from outside')");
    expect(titles((await polled).res)).toEqual(['from outside']);

    const first = await call(s, 'cards.diff', { board: 1 });
    const id = (first.res as Row[])[0]!.id;
    const added = next(s, 'cards.diff_data');
    await call(s, 'cards.add', { board: 1, title: 'new' });
    expect((await added).res).toEqual({ diff: { changed: [{ id: expect.any(Number), title: 'new' }], removed: [] } });
    const renamed = next(s, 'cards.diff_data');
    await call(s, 'cards.rename', { id, title: 'renamed' });
    expect((await renamed).res).toEqual({ diff: { changed: [{ id, title: 'renamed' }], removed: [] } });
    const removed = next(s, 'cards.diff_data');
    await outside(t, `DELETE FROM cards WHERE id = ${id}`);
    await call(s, 'cards.rename', { id: 999999, title: 'nothing' });
    // An UPDATE of nothing writes nothing: the delete outside sockey is seen only with the next write that matters.
    await call(s, 'cards.add', { board: 1, title: 'third' });
    expect((await removed).res).toEqual({ diff: { changed: [{ id: expect.any(Number), title: 'third' }], removed: [id] } });
  });
});

describe('validate: live routes (SPEC §7)', () => {
  it('refuses live on a hook, a write, a statement list or an emit elsewhere, and a read it cannot tell, each at its line:col', async () => {
    const app = tempApp({
      'sockey.yaml': `version: 1
routes:
  a:
    live: true
    hook: ./h.mjs#x
  b:
    live: true
    sql: INSERT INTO cards (title) VALUES ('x')
  c:
    live: true
    sql: [SELECT 1, SELECT 2]
  d:
    live: { key: board, poll: 10ms }
    params: { type: object, properties: { board: { type: integer } } }
    sql: SELECT * FROM cards WHERE id > :board
    emit: all
  e:
    live: true
    sql: PRAGMA table_info(cards)
  f:
    live: { tables: [cards], key: board }
    params: { type: object, properties: { board: { type: integer } } }
    sql: SELECT * FROM cards WHERE board_id = :board
`,
      'h.mjs': 'export const x = () => 1;\n',
    });
    let stderr = '';
    const code = await cli(['validate'], { stdout: () => undefined, stderr: (s) => void (stderr += s), cwd: app.dir, env: process.env });
    app.cleanup();
    expect(code).toBe(1);
    expect(stderr.split('\n').filter(Boolean)).toEqual([
      'sockey.yaml:4:5 routes.a.live: a hook cannot be live: sockey cannot tell what its result depends on (give the route a sql read)',
      'sockey.yaml:7:5 routes.b.live: this sql writes: a live route re-runs a read when what it reads changes, so it must be a SELECT',
      'sockey.yaml:10:5 routes.c.live: a statement list cannot be live: give the route one SELECT',
      'sockey.yaml:13:5 routes.d.live: a live route answers its caller: its updates go to each subscriber, so it takes no emit to: all',
      'sockey.yaml:13:18 routes.d.live.key: the read is not keyed by :board: no "column = :board" among the AND-ed conditions of its WHERE',
      'sockey.yaml:13:31 routes.d.live.poll: poll must be at least 100ms',
      'sockey.yaml:18:5 routes.e.live: sockey cannot tell which tables this read uses; name them with live: { tables: [...] }',
      'sockey.yaml: 7 problems',
    ]);
  });
});

describe('live queries: a socket cannot pile up subscriptions', () => {
  it('the 101st subscription of one socket is not made (LIVE_ENDED limit); the same params again still are one', async () => {
    const t = await startOn(
      'sqlite',
      `routes:\n  n.live:\n    params: { type: object, properties: { n: { type: integer } }, required: [n] }\n    live: true\n    sql: SELECT :n AS n FROM cards LIMIT 1\n`,
      { 'schema.sql': SCHEMA.sqlite },
    );
    try {
      const s = await t.client();
      for (let n = 1; n <= 100; n++) expect(await call(s, 'n.live', { n })).toMatchObject({ ok: true });
      const refused = next(s, 'n.live_error');
      expect(await call(s, 'n.live', { n: 101 })).toMatchObject({ ok: true });
      expect((await refused).details).toEqual({ reason: 'limit', event: 'n.live', params: { n: 101 } });
      const seen = record(s);
      expect(await call(s, 'n.live', { n: 100 })).toMatchObject({ ok: true });
      await flush(s);
      expect(seen.filter((e) => e.event === 'n.live_error')).toEqual([]);
      expect(await call(s, 'live', { type: 'unsubscribe', event: 'n.live', params: { n: 101 } })).toEqual(ok({ unsubscribed: 0 }));
    } finally {
      await t.close();
    }
  });
});

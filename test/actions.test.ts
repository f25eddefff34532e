import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/errors.js';
import { flush, ok, record } from './support/flow.js';
import { io as connect } from 'socket.io-client';
import { defaultPlugins } from '../src/cli/plugins.js';
import { SockeyServer } from '../src/runtime/server.js';
import { call, memoryLogger, next, startServer, tempApp, type TestServer } from './support/util.js';

const SRC_INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

const SCHEMA = `
CREATE TABLE IF NOT EXISTS notes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  body TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  what TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dropped (what TEXT);
`;

const DB = `database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }`;

describe('reply', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer(
      `
version: 1
${DB}
routes:
  constant:
    reply: { message: "Received Example Request", n: 3, nested: { list: [1, "two", null] } }
  scalar:
    reply: plain text
  greet:
    params:
      type: object
      properties:
        name: { type: string }
        n: { type: number }
        obj: { type: object }
        list: { type: array }
      additionalProperties: false
    reply:
      text: "Hello {{params.name}}, from {{event}}"
      exactNumber: "{{params.n}}"
      exactObject: "{{params.obj}}"
      exactList: "{{ params.list }}"
      exactName: "{{params.name}}"
      mixedNumber: "n={{params.n}}"
      missing: "{{params.obj.nothing}}"
      deep: ["{{params.n}}", { again: "{{params.obj.a}}" }]
  raw:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    reply: { triple: "{{{params.name}}}!", double: "{{params.name}}!", exact: "{{params.name}}" }
`,
      { 'schema.sql': SCHEMA },
    );
  });
  afterAll(() => t?.close());

  it('answers a constant reply through the ack', async () => {
    const a = await t.client();
    expect(await call(a, 'constant', {})).toEqual(ok({ message: 'Received Example Request', n: 3, nested: { list: [1, 'two', null] } }));
    expect(await call(a, 'scalar', {})).toEqual(ok('plain text'));
  });

  it('renders templates over params and event; an exact {{x}} leaf keeps its type', async () => {
    const a = await t.client();
    const r = await call(a, 'greet', { name: 'Ada', n: 42, obj: { a: 1, b: [true] }, list: [1, 'x'] });
    expect(r).toEqual(
      ok({
        text: 'Hello Ada, from greet',
        exactNumber: 42,
        exactObject: { a: 1, b: [true] },
        exactList: [1, 'x'],
        exactName: 'Ada',
        mixedNumber: 'n=42',
        missing: null,
        deep: [42, { again: 1 }],
      }),
    );
  });

  it('does not HTML-escape values', async () => {
    const a = await t.client();
    const name = `O'Brien & <b>"x"</b>`;
    expect(await call(a, 'raw', { name })).toEqual(ok({ triple: `${name}!`, double: `${name}!`, exact: name }));
  });

  it('sends <event>_data to the caller when no ack is given', async () => {
    const a = await t.client();
    const seen = record(a);
    const got = next(a, 'greet_data');
    a.emit('greet', { name: 'Bo', n: 1 });
    expect(await got).toEqual(ok(expect.objectContaining({ text: 'Hello Bo, from greet', exactNumber: 1 })));
    await flush(a);
    expect(seen.map((s) => s.event)).toEqual(['greet_data']);
  });
});

describe('sql', () => {
  let t: TestServer;
  // A fresh database per test: the first one counts ids from an empty table.
  beforeEach(async () => {
    t = await startServer(
      `
version: 1
${DB}
routes:
  notes.add:
    params: { type: object, properties: { body: { type: string } }, required: [body], additionalProperties: false }
    sql: INSERT INTO notes (body) VALUES (:body)
  notes.addAffected:
    params: { type: object, properties: { body: { type: string } }, required: [body] }
    sql: INSERT INTO notes (body) VALUES (:body)
    result: affected
  notes.addNone:
    params: { type: object, properties: { body: { type: string } }, required: [body] }
    sql: INSERT INTO notes (body) VALUES (:body)
    result: none
  notes.list:
    sql: SELECT id, body FROM notes ORDER BY id
  notes.find:
    params: { type: object, properties: { id: { type: integer } }, required: [id] }
    sql: SELECT id, body FROM notes WHERE id = :id
    result: row
  notes.count:
    sql: SELECT COUNT(*) AS n, 'ignored' AS second FROM notes
    result: value
  notes.countRows:
    sql: SELECT COUNT(*) AS n FROM notes
    result: rows
  notes.countReply:
    sql: SELECT COUNT(*) AS n FROM notes
    reply: { total: "{{res.0.n}}", text: "{{res.0.n}} notes" }
  notes.rename:
    params: { type: object, properties: { id: { type: integer }, body: { type: string } }, required: [id, body] }
    sql: UPDATE notes SET body = :body WHERE id = :id
  notes.fromFile:
    params: { type: object, properties: { prefix: { type: string } }, required: [prefix] }
    sql: ./queries/by-prefix.sql
  notes.pair:
    params: { type: object, properties: { a: { type: string }, b: { type: string } }, required: [a, b] }
    sql:
      - INSERT INTO notes (body) VALUES (:a)
      - INSERT INTO notes (body) VALUES (:b)
      - SELECT COUNT(*) AS n FROM notes
    result: value
  log.twice:
    params: { type: object, properties: { what: { type: string } }, required: [what] }
    sql:
      - INSERT INTO log (what) VALUES (:what)
      - INSERT INTO dropped (what) VALUES (:what)
  log.list:
    sql: SELECT what FROM log
`,
      { 'schema.sql': SCHEMA, 'queries/by-prefix.sql': "-- notes whose body starts with :prefix\nSELECT body FROM notes\nWHERE body LIKE :prefix || '%'\nORDER BY id;\n" },
    );
    // The start prepares every statement, so the table goes away once the server runs.
    const db = new Database(path.join(t.dir, 'data/app.db'));
    db.exec('DROP TABLE dropped');
    db.close();
  });
  afterEach(() => t?.close());

  it('covers every result shape, in order (a fresh table, so ids are known)', async () => {
    const a = await t.client();
    // Reads default to rows; writes default to { affectedRows, insertId }.
    expect(await call(a, 'notes.list', {})).toEqual(ok([]));
    expect(await call(a, 'notes.find', { id: 1 })).toEqual(ok(null));
    expect(await call(a, 'notes.count', {})).toEqual(ok(0));
    expect(await call(a, 'notes.add', { body: 'first' })).toEqual(ok({ affectedRows: 1, insertId: 1 }));
    expect(await call(a, 'notes.addAffected', { body: 'second' })).toEqual(ok({ affectedRows: 1, insertId: 2 }));
    expect(await call(a, 'notes.addNone', { body: 'third' })).toEqual(ok(null));
    expect(await call(a, 'notes.list', {})).toEqual(
      ok([
        { id: 1, body: 'first' },
        { id: 2, body: 'second' },
        { id: 3, body: 'third' },
      ]),
    );
    expect(await call(a, 'notes.find', { id: 2 })).toEqual(ok({ id: 2, body: 'second' }));
    expect(await call(a, 'notes.count', {})).toEqual(ok(3));
    expect(await call(a, 'notes.countRows', {})).toEqual(ok([{ n: 3 }]));
    expect(await call(a, 'notes.countReply', {})).toEqual(ok({ total: 3, text: '3 notes' }));
    expect(await call(a, 'notes.rename', { id: 2, body: 'second!' })).toEqual(ok({ affectedRows: 1, insertId: null }));
    expect(await call(a, 'notes.rename', { id: 99, body: 'nobody' })).toEqual(ok({ affectedRows: 0, insertId: null }));
    expect(await call(a, 'notes.find', { id: 2 })).toEqual(ok({ id: 2, body: 'second!' }));
    // sql given as a path ending in .sql is read from that file (comment and trailing ; included).
    expect(await call(a, 'notes.fromFile', { prefix: 'second' })).toEqual(ok([{ body: 'second!' }]));
    expect(await call(a, 'notes.fromFile', { prefix: 'th' })).toEqual(ok([{ body: 'third' }]));
  });

  it('runs a list of statements in one transaction; the last one is the reply', async () => {
    const a = await t.client();
    const before = (await call(a, 'notes.count', {})).res as number;
    expect(await call(a, 'notes.pair', { a: 'pair-a', b: 'pair-b' })).toEqual(ok(before + 2));
    // The second insert violates UNIQUE: the first must be rolled back with it.
    const failed = await call(a, 'notes.pair', { a: 'pair-c', b: 'pair-a' });
    expect(failed).toMatchObject({ ok: false, res: false, code: 'DB_ERROR' });
    expect(await call(a, 'notes.count', {})).toEqual(ok(before + 2));
    expect(((await call(a, 'notes.list', {})).res as Array<{ body: string }>).map((r) => r.body)).not.toContain('pair-c');
  });

  it('rolls back the first statement when the second fails (a table dropped under the running server)', async () => {
    const a = await t.client();
    const r = await call(a, 'log.twice', { what: 'should not stay' });
    expect(r).toEqual({ ok: false, err: expect.any(String), res: false, code: 'DB_ERROR' });
    expect(r.err).not.toMatch(/dropped|INSERT|log/i);
    expect(await call(a, 'log.list', {})).toEqual(ok([]));
  });
});

describe('hook', () => {
  let t: TestServer;
  const hooks = `
import { SockeyError } from ${JSON.stringify(SRC_INDEX)};
import type { HookContext } from ${JSON.stringify(SRC_INDEX)};

export async function inspect(ctx: HookContext<{ name: string; limit: number }>) {
  return { params: ctx.params, auth: ctx.auth, event: ctx.event, hasSocket: typeof ctx.socket?.id === 'string' };
}

export async function store(ctx: HookContext<{ body: string }>) {
  const write = await ctx.db.query('INSERT INTO notes (body) VALUES (:body)', { body: ctx.params.body });
  const rows = await ctx.db.query("SELECT id, body, ':body' AS literal FROM notes WHERE body = :body -- :nope", { body: ctx.params.body });
  const none = await ctx.db.query('SELECT id FROM notes WHERE body = :body', { body: 'no such body' });
  return { write, rows, none };
}

export async function shout(ctx: HookContext<{ text: string }>) {
  ctx.emit('broadcast', { said: ctx.params.text });
  ctx.emit('all', { everyone: ctx.params.text }, 'shout.everyone');
  return { sent: true };
}

export async function enter(ctx: HookContext<{ room: string }>) {
  ctx.join('lobby:' + ctx.params.room);
  return { joined: ctx.params.room };
}

export function boom(): never {
  throw new Error('secret detail xyzzy from the hook');
}

export async function asyncBoom(): Promise<never> {
  await new Promise((r) => setTimeout(r, 5));
  throw new TypeError('async secret plugh');
}

export function notFound(): never {
  throw new SockeyError('NOT_FOUND', 'No such thing.');
}

export function duck(): never {
  throw { name: 'SockeyError', code: 'TEAPOT', message: 'I am a teapot.', details: { brew: false } };
}
`;
  beforeAll(async () => {
    t = await startServer(
      `
version: 1
${DB}
routes:
  inspect:
    params:
      type: object
      properties:
        name: { type: string }
        limit: { type: integer, default: 20 }
      required: [name]
      additionalProperties: false
    hook: ./hooks/probe.ts#inspect
  store:
    params: { type: object, properties: { body: { type: string } }, required: [body] }
    hook: ./hooks/probe.ts#store
  shout:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    hook: ./hooks/probe.ts#shout
  enter:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    hook: ./hooks/probe.ts#enter
  lobby.say:
    params: { type: object, properties: { room: { type: string }, text: { type: string } }, required: [room, text] }
    reply: { text: "{{params.text}}" }
    emit: { to: room, room: "lobby:{{params.room}}" }
  boom:
    hook: ./hooks/probe.ts#boom
  asyncBoom:
    hook: ./hooks/probe.ts#asyncBoom
  notFound:
    hook: ./hooks/probe.ts#notFound
  duck:
    hook: ./hooks/probe.ts#duck
  wrapped:
    hook: ./hooks/probe.ts#inspect
    params: { type: object, properties: { name: { type: string } } }
    reply: { who: "{{res.params.name}}", event: "{{res.event}}" }
`,
      { 'schema.sql': SCHEMA, 'hooks/probe.ts': hooks },
    );
  });
  afterAll(() => t?.close());

  it('receives validated params with defaults, auth null, event and socket; its return value is res', async () => {
    const a = await t.client();
    expect(await call(a, 'inspect', { name: 'Ada' })).toEqual(ok({ params: { name: 'Ada', limit: 20 }, auth: null, event: 'inspect', hasSocket: true }));
    expect(await call(a, 'inspect', { name: 'Ada', limit: 3 })).toEqual(ok({ params: { name: 'Ada', limit: 3 }, auth: null, event: 'inspect', hasSocket: true }));
    expect(await call(a, 'wrapped', { name: 'Bo' })).toEqual(ok({ who: 'Bo', event: 'wrapped' }));
  });

  it('does not run when the params are invalid', async () => {
    const a = await t.client();
    const r = await call(a, 'inspect', { name: 7 });
    expect(r).toMatchObject({ ok: false, res: false, code: 'VALIDATION' });
  });

  it('queries with named params: rows for reads, { affectedRows, insertId } for writes', async () => {
    const a = await t.client();
    const r = await call(a, 'store', { body: "it's :body" });
    expect(r).toEqual(ok({ write: { affectedRows: 1, insertId: expect.any(Number) }, rows: [{ id: r.res.write.insertId, body: "it's :body", literal: ':body' }], none: [] }));
  });

  it('emits through ctx.emit to other targets and events', async () => {
    const [a, b, c] = [await t.client(), await t.client(), await t.client()];
    const seen = [record(a), record(b), record(c)];
    expect(await call(a, 'shout', { text: 'hi' })).toEqual(ok({ sent: true }));
    await flush(a, b, c);
    expect(seen[0]).toEqual([{ event: 'shout.everyone', payload: ok({ everyone: 'hi' }) }]);
    for (const s of [seen[1], seen[2]]) {
      expect(s).toEqual([
        { event: 'shout_data', payload: ok({ said: 'hi' }) },
        { event: 'shout.everyone', payload: ok({ everyone: 'hi' }) },
      ]);
    }
  });

  it('joins rooms through ctx.join', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const seenA = record(a);
    expect(await call(a, 'enter', { room: 'r1' })).toEqual(ok({ joined: 'r1' }));
    expect(await call(b, 'lobby.say', { room: 'r1', text: 'to r1' })).toEqual(ok({ text: 'to r1' }));
    expect(await call(b, 'lobby.say', { room: 'r2', text: 'to r2' })).toEqual(ok({ text: 'to r2' }));
    await flush(a);
    expect(seenA).toEqual([{ event: 'lobby.say_data', payload: ok({ text: 'to r1' }) }]);
  });

  it('a thrown plain Error is INTERNAL with no message or stack; the socket lives on', async () => {
    const a = await t.client();
    const id = a.id;
    for (const event of ['boom', 'asyncBoom']) {
      const r = await call(a, event, {});
      expect(r).toEqual({ ok: false, err: ERROR_CODES.INTERNAL.message, res: false, code: 'INTERNAL' });
      expect(JSON.stringify(r)).not.toMatch(/xyzzy|plugh|secret|Error|at .*\(|probe\.ts/);
    }
    expect(a.id).toBe(id);
    expect(a.connected).toBe(true);
    expect(await call(a, 'inspect', { name: 'again' })).toMatchObject({ ok: true });
  });

  it('a thrown SockeyError keeps its code and message (class or duck-typed)', async () => {
    const a = await t.client();
    expect(await call(a, 'notFound', {})).toEqual({ ok: false, err: 'No such thing.', res: false, code: 'NOT_FOUND' });
    expect(await call(a, 'duck', {})).toEqual({ ok: false, err: 'I am a teapot.', res: false, code: 'TEAPOT', details: { brew: false } });
  });

  it('hook errors without an ack arrive on <event>_error', async () => {
    const a = await t.client();
    const got = next(a, 'notFound_error');
    a.emit('notFound', {});
    expect(await got).toEqual({ ok: false, err: 'No such thing.', res: false, code: 'NOT_FOUND' });
  });
});

describe('hook given without #export', () => {
  // The folder has no package.json, so tsx loads the module as CommonJS: its
  // default export must still be found.
  it('calls the default export', async () => {
    const t = await startServer(
      `
version: 1
${DB}
routes:
  fallback:
    hook: ./hooks/default.ts
`,
      { 'schema.sql': SCHEMA, 'hooks/default.ts': "export function other() { return 'other'; }\nexport default function fallback() { return 'from the default export'; }\n" },
    );
    try {
      const a = await t.client();
      expect(await call(a, 'fallback', {})).toEqual(ok('from the default export'));
    } finally {
      await t.close();
    }
  });
});

describe('hooks and the `sockey` package', () => {
  // The app imports 'sockey' as a user's would (node_modules/sockey -> this checkout, its built dist/),
  // while the server under test runs from src/: two copies of the module, one SockeyError class.
  it('import { SockeyError } from "sockey": the same class as the server\'s, and db.execute answers a write result', async () => {
    const app = tempApp({
      'sockey.yaml': `
version: 1
${DB}
routes:
  same:
    hook: ./hooks/pkg.ts#same
  refused:
    hook: ./hooks/pkg.ts#refused
  write:
    params: { type: object, properties: { body: { type: string } }, required: [body] }
    hook: ./hooks/pkg.ts#write
`,
      'schema.sql': SCHEMA,
      'hooks/pkg.ts': `
import { SockeyError, defineHook, type SignedInHookContext } from 'sockey';
export const same = defineHook(async (ctx) => {
  try {
    await ctx.join('sockey:user:1');
    return { refused: false };
  } catch (e) {
    return { refused: true, same: e instanceof SockeyError, code: (e as SockeyError).code };
  }
});
export function refused(): never {
  throw new SockeyError('NOT_FOUND', 'Not here.');
}
export const write = defineHook<{ body: string }>(async (ctx) => {
  const done = await ctx.db.execute('INSERT INTO notes (body) VALUES (:body)', ctx.params);
  const rows = await ctx.db.query<{ body: string }>('SELECT body FROM notes WHERE id = :id', { id: done.insertId });
  return { affectedRows: done.affectedRows, body: rows[0]?.body };
});
export type Typed = SignedInHookContext<{ a: 1 }>['auth']['name'];
`,
    });
    mkdirSync(path.join(app.dir, 'node_modules'), { recursive: true });
    symlinkSync(fileURLToPath(new URL('..', import.meta.url)), path.join(app.dir, 'node_modules/sockey'));
    const server = await SockeyServer.start({ manifest: 'sockey.yaml', cwd: app.dir, port: 0, host: '127.0.0.1', log: memoryLogger().log, plugins: defaultPlugins() });
    const a = connect(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      expect(await call(a, 'same', {})).toEqual(ok({ refused: true, same: true, code: 'FORBIDDEN' }));
      expect(await call(a, 'refused', {})).toEqual({ ok: false, err: 'Not here.', res: false, code: 'NOT_FOUND' });
      expect(await call(a, 'write', { body: 'hi' })).toEqual(ok({ affectedRows: 1, body: 'hi' }));
    } finally {
      a.disconnect();
      await server.close();
      app.cleanup();
    }
  });
});

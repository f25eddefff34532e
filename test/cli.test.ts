import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, killAll, ROOT, runCli, serve, sockey, within } from './support/child.js';
import { flush, ok, record } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { call, memoryLogger, next, tempApp } from './support/util.js';
import { defaultPlugins } from '../src/cli/plugins.js';
import { SockeyServer } from '../src/runtime/server.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  killAll();
  for (const c of cleanups.splice(0)) await c();
});

function app(files: Record<string, string>) {
  const a = tempApp(files);
  cleanups.push(a.cleanup);
  return a;
}

async function client(url: string): Promise<ClientSocket> {
  const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  cleanups.push(() => socket.disconnect());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

const run = (argv: string[], cwd: string) => runCli(argv, cwd);

const ECHO = `version: 1
server: { port: 1 }
database: { driver: sqlite, file: ./data/app.db }
routes:
  echo:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { said: "{{params.text}}" }
`;

describe('sockey serve (child process)', () => {
  it('serves, answers, and closes cleanly on SIGTERM (watching files, the default)', async () => {
    const a = app({ 'sockey.yaml': ECHO });
    const s = await serve(['sockey.yaml', '--port', '0'], a.dir);
    expect(s.port).toBeGreaterThan(0);
    const c = await client(s.url);
    expect(await call(c, 'echo', { text: 'hi' })).toEqual(ok({ said: 'hi' }));
    const gone = new Promise<void>((resolve) => c.once('disconnect', () => resolve()));
    s.child.kill('SIGTERM');
    const exit = await within(s.exited, 5000, 'exit after SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toMatch(/\bclosed\b/);
    await within(gone, 2000, 'the client to be disconnected');
  });

  it('--port overrides server.port and SOCKEY_PORT', async () => {
    const a = app({ 'sockey.yaml': ECHO });
    const [p1, p2] = [await freePort(), await freePort()];
    const s = await serve(['--port', String(p1), '--no-watch'], a.dir, { SOCKEY_PORT: String(p2) });
    expect(s.port).toBe(p1);
    expect(await call(await client(`http://127.0.0.1:${p1}`), 'echo', { text: 'port' })).toEqual(ok({ said: 'port' }));
    s.child.kill('SIGTERM');
    expect(await within(s.exited, 5000, 'exit')).toEqual({ code: 0, signal: null });
  });

  it('SOCKEY_PORT overrides server.port (in-process)', async () => {
    const a = app({ 'sockey.yaml': ECHO });
    const p = await freePort();
    const server = await SockeyServer.start({ cwd: a.dir, env: { ...process.env, SOCKEY_PORT: String(p) }, log: memoryLogger().log, plugins: defaultPlugins() });
    cleanups.unshift(() => server.close());
    expect(server.port).toBe(p);
    expect(await call(await client(`http://127.0.0.1:${p}`), 'echo', { text: 'env' })).toEqual(ok({ said: 'env' }));
  });

  it('an invalid manifest exits 1 with file:line:col on stderr', async () => {
    const a = app({ 'sockey.yaml': `version: 1\nroutes:\n  echo:\n    reply: hi\n    emit: room\n  nothing: {}\n` });
    const r = sockey(['serve', '--port', '0', '--no-watch'], a.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sockey\.yaml:5:11 routes\.echo\.emit: .*room/m);
    expect(r.stderr).toMatch(/^sockey\.yaml:6:3 routes\.nothing: /m);
    expect(r.stderr).not.toMatch(/listening/);
  });

  it('SOCKEY_PORT that is not a port is a usage error naming the variable (exit 2)', async () => {
    const a = app({ 'sockey.yaml': ECHO });
    for (const bad of ['abc', '70000', '-1', '80x']) {
      const r = sockey(['serve', '--no-watch'], a.dir, { SOCKEY_PORT: bad });
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toBe(`sockey serve: SOCKEY_PORT must be a port number from 0 to 65535, got "${bad}"\n`);
    }
    expect(existsSync(path.join(a.dir, 'data'))).toBe(false);
  });

  it('a port in use exits 1 with a clear message, before the database is created or migrated', async () => {
    const a = app({
      'sockey.yaml': ECHO.replace('database: { driver: sqlite, file: ./data/app.db }', 'database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }'),
      'schema.sql': 'CREATE TABLE IF NOT EXISTS notes (body TEXT);\n',
    });
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const port = (busy.address() as AddressInfo).port;
    const r = sockey(['serve', '--port', String(port), '--host', '127.0.0.1', '--no-watch'], a.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sockey serve: port ${port} on 127.0.0.1 is already in use\n`);
    // Nothing was written: not even the SQLite file.
    expect(existsSync(path.join(a.dir, 'data/app.db'))).toBe(false);
  });

  it('SQL the database rejects stops the start with the diagnostic (exit 1); the check runs after migration', async () => {
    const text = `version: 1
database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }
routes:
  notes.list: { sql: SELECT body FROM notes }
  notes.typo: { sql: SELECT bdoy FROM notes }
`;
    const a = app({ 'sockey.yaml': text, 'schema.sql': 'CREATE TABLE IF NOT EXISTS notes (body TEXT);\n' });
    const r = sockey(['serve', '--port', '0', '--host', '127.0.0.1', '--no-watch'], a.dir);
    expect(r.code).toBe(1);
    // The schema file was applied first (notes.list prepares), then the typo was caught.
    expect(r.stderr).toMatch(/INFO: applied 1 schema file\(s\)\nsockey\.yaml:5:22 routes\.notes\.typo\.sql: the database rejects this statement: no such column: bdoy\n$/);
    expect(r.stderr).not.toMatch(/listening|notes\.list/);
  });

  it('a missing manifest exits 1', async () => {
    const a = app({});
    const r = await run(['serve', 'nope.yaml', '--port', '0'], a.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.yaml:1:1 /);
  });
});

describe('sockey routes', () => {
  const MANIFEST = `version: 1
database: { driver: sqlite, file: ./data/app.db }
auth: { enabled: false }
routes:
  ping:
    description: Answers pong.
    reply: pong
  notes.list:
    params: { type: object, properties: { limit: { type: integer, default: 10 } } }
    sql: SELECT 1 AS n LIMIT :limit
    emit: broadcast
  tick:
    reply: started
    rateLimit: { count: 2, per: 1s }
    timers:
      - every: 5s
        emit: all
        reply: tick
`;

  it('prints the route table', async () => {
    const a = app({ 'sockey.yaml': MANIFEST });
    const r = await run(['routes'], a.dir);
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^EVENT\s+AUTH\s+ACTION\s+EMIT/);
    expect(rows.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['ping', 'notes.list', 'tick']);
    expect(rows[2]).toMatch(/^notes\.list\s+none\s+sql\s+broadcast\s+limit/);
  });

  it('--json prints parseable summaries', async () => {
    const a = app({ 'sockey.yaml': MANIFEST });
    const r = await run(['routes', '--json'], a.dir);
    expect(r.code).toBe(0);
    const routes = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(routes.map((x) => x.event)).toEqual(['ping', 'notes.list', 'tick']);
    expect(routes[0]).toMatchObject({ event: 'ping', builtin: false, auth: 'none', action: 'reply', emit: 'self', description: 'Answers pong.' });
    expect(routes[1]).toMatchObject({ event: 'notes.list', action: 'sql', emit: 'broadcast', params: ['limit'] });
    expect(routes[2]).toMatchObject({ event: 'tick', timers: [expect.stringMatching(/every 5000ms -> all/)], rateLimit: expect.stringMatching(/^2\//) });
  });

  it('shows guards and expectations', async () => {
    const a = app({
      'sockey.yaml': `version: 1
auth: { enabled: false }
guards:
  member: SELECT 1 FROM members WHERE board = :board
routes:
  move:
    params: { type: object, properties: { board: { type: integer } } }
    guard: member
    sql: UPDATE cards SET col = 1 WHERE board = :board
    expect: changed
  open:
    guard: { hook: ./g.mjs#ok }
    reply: 1
`,
      'g.mjs': 'export const ok = () => true;\n',
    });
    const r = await run(['routes', '--json'], a.dir);
    expect(r.code).toBe(0);
    const routes = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(routes.map((x) => [x.event, x.guard, x.expect])).toEqual([
      ['move', 'member', 'changed'],
      ['open', 'hook ./g.mjs#ok', undefined],
    ]);
    const table = await run(['routes'], a.dir);
    expect(table.stdout).toMatch(/^move .*guard member; expect changed$/m);
  });

  it('marks live routes: what they read and by which key (the built-in live route listed with them)', async () => {
    const a = app({
      'sockey.yaml': `version: 1
auth: { enabled: false }
routes:
  cards.live:
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    live: true
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
  cards.add:
    params: { type: object, properties: { board: { type: integer }, title: { type: string } } }
    sql: INSERT INTO cards (board_id, title) VALUES (:board, :title)
`,
    });
    const table = await run(['routes'], a.dir);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^cards\.live .* live on cards by cards\.board_id$/m);
    expect(table.stdout).toMatch(/^cards\.add .* -$/m);
    expect(table.stdout).toMatch(/^live \(built-in\) /m);
    const routes = JSON.parse((await run(['routes', '--json'], a.dir)).stdout) as Array<{ event: string; live?: string }>;
    expect(Object.fromEntries(routes.map((r) => [r.event, r.live ?? null]))).toEqual({ 'cards.live': 'live on cards by cards.board_id', 'cards.add': null, live: null });
  });

  it('includes the built-in auth route unless disabled', async () => {
    const a = app({ 'sockey.yaml': MANIFEST.replace('auth: { enabled: false }\n', '') });
    const r = await run(['routes', '--json'], a.dir);
    expect(r.code).toBe(0);
    const routes = JSON.parse(r.stdout) as Array<{ event: string; builtin: boolean }>;
    expect(routes.filter((x) => x.builtin).map((x) => x.event)).toEqual(['auth']);
    expect(routes.filter((x) => !x.builtin).map((x) => x.event)).toEqual(['ping', 'notes.list', 'tick']);
  });

  it('an invalid manifest exits 1 with its problems', async () => {
    const a = app({ 'sockey.yaml': 'version: 2\n' });
    const r = await run(['routes'], a.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sockey\.yaml:1:10 version: must be 1/m);
  });
});

describe('sockey init', () => {
  it('scaffolds an app that validates and serves; refuses to overwrite without --force', async () => {
    const a = app({});
    const dir = path.join(a.dir, 'my-app');
    const r = sockey(['init', 'my-app'], a.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of ['sockey.yaml', 'schema.sql', 'hooks/count.ts']) expect(existsSync(path.join(dir, f)), f).toBe(true);
    expect(readFileSync(path.join(dir, 'hooks/count.ts'), 'utf8')).toMatch(/from 'sockey'/);

    const v = await run(['validate'], dir);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^sockey\.yaml: ok \(/);

    const s = await serve(['--port', '0', '--no-watch'], dir);
    const c = await client(s.url);
    expect(await call(c, 'hello', {})).toEqual(ok({ greeting: 'Hello, world!' }));
    expect(await call(c, 'hello', { name: 'Ada' })).toEqual(ok({ greeting: 'Hello, Ada!' }));
    expect(await call(c, 'notes.count', {})).toEqual(ok({ notes: 0 }));
    expect(await call(c, 'notes.add', { text: 'first' })).toEqual(ok({ affectedRows: 1, insertId: 1 }));
    expect(await call(c, 'notes.list', {})).toEqual(ok([{ id: 1, text: 'first', created_at: expect.any(String) }]));
    expect(await call(c, 'notes.count', {})).toEqual(ok({ notes: 1 }));
    s.child.kill('SIGTERM');
    expect((await within(s.exited, 5000, 'exit')).code).toBe(0);

    // A second init would overwrite: refused, and the user's edit survives.
    writeFileSync(path.join(dir, 'sockey.yaml'), '# mine\n');
    const again = await run(['init', 'my-app'], a.dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not overwriting .*sockey\.yaml.*--force/);
    expect(readFileSync(path.join(dir, 'sockey.yaml'), 'utf8')).toBe('# mine\n');

    const forced = await run(['init', 'my-app', '--force'], a.dir);
    expect(forced.code).toBe(0);
    expect(readFileSync(path.join(dir, 'sockey.yaml'), 'utf8')).toMatch(/^# yaml-language-server/);
  });
});

describe('sockey db migrate', () => {
  const SQLITE = `version: 1
database: { driver: sqlite, file: ./data/app.db, schema: [./sql/one.sql, ./sql/two.sql] }
routes:
  ping: { reply: pong }
`;

  it('applies the schema files to SQLite (idempotently)', async () => {
    const a = app({
      'sockey.yaml': SQLITE,
      'sql/one.sql': 'CREATE TABLE IF NOT EXISTS alpha (id INTEGER PRIMARY KEY);\n',
      'sql/two.sql': 'CREATE TABLE IF NOT EXISTS beta (id INTEGER PRIMARY KEY, alpha_id INTEGER REFERENCES alpha(id));\nCREATE INDEX IF NOT EXISTS beta_alpha ON beta (alpha_id);\n',
    });
    const r = await run(['db', 'migrate'], a.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/applied sql\/one\.sql\napplied sql\/two\.sql\n/);
    const db = new Database(path.join(a.dir, 'data/app.db'), { readonly: true });
    try {
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name").all() as Array<{ name: string }>).map((x) => x.name);
      expect(names).toEqual(expect.arrayContaining(['alpha', 'beta', 'beta_alpha']));
    } finally {
      db.close();
    }
    expect((await run(['db', 'migrate', 'sockey.yaml'], a.dir)).code).toBe(0);
  });

  it('a broken schema file exits 1 and names the file', async () => {
    const a = app({ 'sockey.yaml': SQLITE, 'sql/one.sql': 'CREATE TABLE IF NOT EXISTS alpha (id INTEGER PRIMARY KEY);\n', 'sql/two.sql': 'CREATE TABLE oops (;\n' });
    const r = await run(['db', 'migrate'], a.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/two\.sql/);
  });

  it('an unknown db command exits 2', async () => {
    const a = app({ 'sockey.yaml': SQLITE });
    expect((await run(['db', 'frobnicate'], a.dir)).code).toBe(2);
    expect((await run(['db'], a.dir)).code).toBe(2);
  });

  it('applies the schema files to MariaDB', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const a = app({
      'sockey.yaml': `version: 1\ndatabase: { driver: mysql, url: "${db.url}", schema: [./sql/one.sql] }\nroutes:\n  ping: { reply: pong }\n`,
      'sql/one.sql': 'CREATE TABLE IF NOT EXISTS alpha (id INT PRIMARY KEY);\nCREATE TABLE IF NOT EXISTS beta (id INT PRIMARY KEY);\n',
    });
    const r = await run(['db', 'migrate'], a.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const conn = await mysql.createConnection(db.url);
    try {
      const [rows] = await conn.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?', [db.name]);
      expect((rows as Array<{ name: string }>).map((x) => x.name)).toEqual(expect.arrayContaining(['alpha', 'beta']));
    } finally {
      await conn.end();
    }
  });
});

describe('the default app', () => {
  it('validates from the repo root', async () => {
    const r = await run(['validate', 'sockey.yaml'], ROOT);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sockey\.yaml: ok \(/);
  });

  it('a copy of it serves echo, messages.* and example', async () => {
    const a = app({});
    cpSync(path.join(ROOT, 'sockey.yaml'), path.join(a.dir, 'sockey.yaml'));
    cpSync(path.join(ROOT, 'app'), path.join(a.dir, 'app'), { recursive: true });
    const s = await serve(['--port', '0', '--no-watch'], a.dir);
    const [alice, bob] = [await client(s.url), await client(s.url)];
    const seenBob = record(bob);

    expect(await call(alice, 'echo', { text: 'hello' })).toEqual(ok({ text: 'hello' }));
    expect(await call(alice, 'echo', {})).toMatchObject({ ok: false, res: false, code: 'VALIDATION' });

    expect(await call(bob, 'messages.join', { room: 'lobby' })).toEqual(ok([]));
    // Posting needs a signed-in user; the author is the user's name.
    expect(await call(alice, 'messages.post', { room: 'lobby', body: 'anonymous?' })).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    expect(await call(alice, 'keytest', {})).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    const reg = await call(alice, 'auth', { type: 'register', user: { name: 'alice', email: 'alice@example.com', password: 'pa55!word' } });
    expect(reg).toEqual(ok({ name: 'alice', token: expect.any(String) }));
    expect(await call(alice, 'keytest', {})).toEqual(ok({ message: 'Key is valid', name: 'alice' }));
    const pushed = next(bob, 'messages.new');
    const posted = await call(alice, 'messages.post', { room: 'lobby', body: 'hi all' });
    const row = { id: 1, room: 'lobby', author: 'alice', body: 'hi all', created_at: expect.any(String) };
    expect(posted).toEqual(ok(row));
    expect(await pushed).toEqual(ok(row));
    await call(alice, 'messages.post', { room: 'lobby', body: 'second' });
    await call(alice, 'messages.post', { room: 'elsewhere', body: 'not here' });
    const list = await call(alice, 'messages.list', { room: 'lobby' });
    expect(list).toEqual(ok([{ ...row, id: 2, body: 'second' }, row]));
    expect(await call(alice, 'messages.list', { room: 'lobby', limit: 1 })).toEqual(ok([{ ...row, id: 2, body: 'second' }]));
    expect(await call(alice, 'stats', {})).toEqual(
      ok({
        rooms: [
          { room: 'elsewhere', messages: 1 },
          { room: 'lobby', messages: 2 },
        ],
        total: 3,
      }),
    );

    expect(await call(alice, 'example', {})).toEqual(ok({ message: 'Received Example Request' }));
    await flush(bob);
    // Bob got the room's two lobby messages, nothing for "elsewhere", and no example packet yet (5 s interval).
    expect(seenBob.map((x) => x.event)).toEqual(['messages.new', 'messages.new']);

    s.child.kill('SIGTERM');
    expect((await within(s.exited, 5000, 'exit')).code).toBe(0);
  });
});

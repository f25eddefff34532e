import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { watchServer, type Watching } from '../src/reload/watcher.js';
import { eventually, flush, ok } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { runCli, serve as serveCli, type Served } from './support/child.js';
import { armWatcher, linesAt, rejectedLines, reloadedLines, spacedWriter, steadyLoad, transitions, untilReloads, untilReply } from './support/reload-util.js';
import { call, collect, manifestOf, next, sleep, startServer, tempApp, type TestServer } from './support/util.js';

/** A manifest from route bodies (one flow mapping each), with an optional extra top-level section. */
const manifest = (routes: Record<string, string>, head?: string) => manifestOf(routes, head);

const unknownEvent = (r: any) => r?.ok === false && r?.code === 'UNKNOWN_EVENT';

let t: TestServer | undefined;
let w: Watching | undefined;

afterEach(async () => {
  await w?.close();
  w = undefined;
  await t?.close();
  t = undefined;
});

/** Starts a server and its watcher, armed (chokidar attached), and one client that should live through the test. */
async function serve(text: string, files: Record<string, string> = {}) {
  t = await startServer(text, files);
  w = watchServer(t.server);
  await armWatcher(t);
  const client = await t.client();
  const id = client.id;
  let disconnects = 0;
  client.on('disconnect', () => disconnects++);
  const server = t;
  return {
    t: server,
    client,
    /** The client is the very same connection it was at the start. */
    sameConnection() {
      expect(client.connected).toBe(true);
      expect(client.id).toBe(id);
      expect(disconnects).toBe(0);
      expect(server.server.states.has(id!)).toBe(true);
    },
  };
}

describe('hot reload, in-process (watchServer)', () => {
  const ROUTES: Record<string, string> = {
    hello: '{ params: { type: object, properties: { name: { type: string, default: world } } }, reply: { text: "hello {{params.name}}", v: 1 } }',
    greet: '{ hook: ./hooks/greet.ts#greet }',
    q: '{ sql: ./q.sql, result: value }',
    tick: '{ reply: ticking, timers: [{ every: 50ms, reply: tick }] }',
    beat: '{ reply: beating, timers: [{ every: 50ms, reply: beat }] }',
  };
  const hook = (v: number) => `import { WORD } from './words.ts';\nexport async function greet() {\n  return { word: WORD, v: ${v} };\n}\n`;
  // "type": "module": tsx loads the hooks as ESM (the CommonJS case has a test of its own below).
  const FILES = { 'package.json': '{ "type": "module" }\n', 'hooks/greet.ts': hook(1), 'hooks/words.ts': "export const WORD = 'alpha';\n", 'q.sql': 'SELECT 41 + 0;\n' };

  it('one client stays connected through a whole editing session, and each edit goes live', async () => {
    const { t, client, sameConnection } = await serve(manifest(ROUTES), FILES);
    const write = spacedWriter(t);
    const routes = { ...ROUTES };
    const edit = (patch: Record<string, string | undefined>) => {
      for (const [k, v] of Object.entries(patch)) {
        if (v === undefined) delete routes[k];
        else routes[k] = v;
      }
      return write('sockey.yaml', manifest(routes));
    };
    const lastReload = () => reloadedLines(t).at(-1);
    expect(await call(client, 'hello', { name: 'ann' })).toEqual(ok({ text: 'hello ann', v: 1 }));
    expect(await call(client, 'greet')).toEqual(ok({ word: 'alpha', v: 1 }));
    expect(await call(client, 'q')).toEqual(ok(41));

    // A reply change: only that route is reported as changed.
    let n = reloadedLines(t).length;
    await edit({ hello: ROUTES.hello!.replace('v: 1', 'v: 2') });
    await untilReply(client, 'hello', { name: 'ann' }, ok({ text: 'hello ann', v: 2 }));
    await untilReloads(t, n + 1);
    expect(lastReload()).toMatch(/^reloaded \(sockey\.yaml changed\) in \d+ ms: ~hello; version [0-9a-f]{12}$/);

    // An added route.
    n = reloadedLines(t).length;
    expect(unknownEvent(await call(client, 'bye'))).toBe(true);
    await edit({ bye: '{ params: { type: object, properties: { name: { type: string } } }, reply: { bye: "{{params.name}}" } }' });
    await untilReply(client, 'bye', { name: 'bo' }, ok({ bye: 'bo' }));
    await untilReloads(t, n + 1);
    expect(lastReload()).toMatch(/: \+bye; version [0-9a-f]{12}$/);

    // A removed route: UNKNOWN_EVENT through the ack.
    n = reloadedLines(t).length;
    await edit({ bye: undefined });
    const gone = await eventually(() => call(client, 'bye'), unknownEvent, 'bye to be unknown');
    expect(gone).toEqual({ ok: false, err: expect.any(String), res: false, code: 'UNKNOWN_EVENT' });
    await untilReloads(t, n + 1);
    expect(lastReload()).toMatch(/: -bye; version [0-9a-f]{12}$/);

    // An invalid manifest: rejected, logged exactly as `sockey validate` prints it, the old version keeps serving.
    const rejected = rejectedLines(t).length;
    const from = t.logs.lines.length;
    const badText = manifest({ ...routes, hello: '{ params: { type: objekt }, reply: { v: 3 } }' });
    await write('sockey.yaml', badText);
    await eventually(
      () => rejectedLines(t).length,
      (k) => k > rejected,
      'the reload to be rejected',
    );
    const errors = linesAt(t, 50, from);
    expect(errors.at(-1)).toBe('reload (sockey.yaml changed) rejected: the previous version keeps serving');
    const badLine = badText.split('\n').findIndex((l) => l.includes('objekt')) + 1;
    const badCol = badText.split('\n')[badLine - 1]!.indexOf('{ type: objekt') + 1; // the params value
    expect(errors[0]).toMatch(new RegExp(`^sockey\\.yaml:${badLine}:${badCol} routes\\.hello\\.params: `));
    const validated = await runCli(['validate', 'sockey.yaml'], t.dir);
    expect(validated.code).toBe(1);
    const validateLines = (validated.stderr + validated.stdout).split('\n').filter((l) => /^sockey\.yaml:\d+:\d+ /.test(l));
    expect(errors.slice(0, -1)).toEqual(validateLines);
    expect(await call(client, 'hello', { name: 'ann' })).toEqual(ok({ text: 'hello ann', v: 2 }));
    expect(await call(client, 'greet')).toEqual(ok({ word: 'alpha', v: 1 }));

    // The fix brings the new version in.
    await edit({ hello: ROUTES.hello!.replace('v: 1', 'v: 3') });
    await untilReply(client, 'hello', { name: 'ann' }, ok({ text: 'hello ann', v: 3 }));

    // A hook edit runs the new code (no stale module), and so does an edit of a module the hook imports.
    n = reloadedLines(t).length;
    await write('hooks/greet.ts', hook(2));
    await untilReply(client, 'greet', undefined, ok({ word: 'alpha', v: 2 }));
    await untilReloads(t, n + 1);
    expect(lastReload()).toMatch(/^reloaded \(hooks\/greet\.ts changed\) in \d+ ms: ~greet; version [0-9a-f]{12}$/);
    await write('hooks/words.ts', "export const WORD = 'beta';\n");
    await untilReply(client, 'greet', undefined, ok({ word: 'beta', v: 2 }));
    expect(lastReload()).toMatch(/^reloaded \(hooks\/words\.ts changed\) in \d+ ms: ~greet; version [0-9a-f]{12}$/);

    // A hook that no longer compiles is rejected like a bad manifest; its fix goes live.
    const rejectedBefore = rejectedLines(t).length;
    await write('hooks/greet.ts', 'export async function greet( {\n');
    await eventually(
      () => rejectedLines(t).length,
      (k) => k > rejectedBefore,
      'the broken hook to be rejected',
    );
    expect(rejectedLines(t).at(-1)).toBe('reload (hooks/greet.ts changed) rejected: the previous version keeps serving');
    expect(await call(client, 'greet')).toEqual(ok({ word: 'beta', v: 2 }));
    await write('hooks/greet.ts', hook(3));
    await untilReply(client, 'greet', undefined, ok({ word: 'beta', v: 3 }));

    // A SQL file edit.
    await write('q.sql', 'SELECT 41 + 1;\n');
    await untilReply(client, 'q', undefined, ok(42));
    expect(lastReload()).toMatch(/^reloaded \(q\.sql changed\) in \d+ ms: ~q; version [0-9a-f]{12}$/);

    // Timers: the changed route's interval stops at the swap, the unchanged route's runs on.
    const ticks = collect(client, 'tick_data');
    const beats = collect(client, 'beat_data');
    expect(await call(client, 'tick')).toEqual(ok('ticking'));
    expect(await call(client, 'beat')).toEqual(ok('beating'));
    await eventually(
      () => Math.min(ticks.length, beats.length),
      (k) => k >= 3,
      'both intervals to run',
    );
    const state = t.server.states.get(client.id!)!;
    expect(state.timers.routes().sort()).toEqual(['beat', 'tick']);
    const beatRoute = t.server.table.routes.get('beat');
    n = reloadedLines(t).length;
    await edit({ tick: ROUTES.tick!.replace('reply: ticking', 'reply: ticking again') });
    await untilReloads(t, n + 1);
    expect(lastReload()).toMatch(/: ~tick; version [0-9a-f]{12}$/);
    expect(state.timers.routes()).toEqual(['beat']);
    expect(t.server.table.routes.get('beat')).toBe(beatRoute);
    await flush(client); // packets sent before the swap have arrived
    const ticksAtSwap = ticks.length;
    const beatsAtSwap = beats.length;
    await eventually(
      () => beats.length,
      (k) => k >= beatsAtSwap + 5,
      'the unchanged interval to keep running',
    );
    expect(ticks.length).toBe(ticksAtSwap);
    expect(ticks.every((p) => p.res === 'tick') && beats.every((p) => p.res === 'beat')).toBe(true);
    expect(await call(client, 'tick')).toEqual(ok('ticking again'));

    sameConnection();
    expect(rejectedLines(t)).toHaveLength(2);
  });

  it('without "type": "module" (as `sockey init` scaffolds: tsx loads .ts hooks as CommonJS), an edit of a module the hook imports goes live too', async () => {
    const { t, client, sameConnection } = await serve(manifest({ greet: ROUTES.greet! }), { 'hooks/greet.ts': hook(1), 'hooks/words.ts': "export const WORD = 'alpha';\n" });
    const write = spacedWriter(t);
    expect(await call(client, 'greet')).toEqual(ok({ word: 'alpha', v: 1 }));
    // The hook's own edit goes live; the module it imports must not be served from a stale cache.
    await write('hooks/words.ts', "export const WORD = 'beta';\n");
    await write('hooks/greet.ts', hook(2));
    await untilReply(client, 'greet', undefined, ok({ word: 'beta', v: 2 }), 'the new hook with the new import', 3000);
    // And the imported module is watched on its own.
    expect(t.server.table.files).toContain(path.join(t.dir, 'hooks/words.ts'));
    await write('hooks/words.ts', "export const WORD = 'gamma';\n");
    await untilReply(client, 'greet', undefined, ok({ word: 'gamma', v: 2 }), 'the edit of the imported module', 3000);
    sameConnection();
  });

  it('a route removed while one of its messages is in flight leaves no timer running', async () => {
    // The hook takes 300 ms; the reload that removes the route lands meanwhile. When the
    // message ends, the old version's timer must not start (nothing could ever clear it).
    const slowHook = 'export async function slow(ctx) {\n  ctx.emit("self", "in the hook", "slow.started");\n  await new Promise((r) => setTimeout(r, 300));\n  return "done";\n}\n';
    const routes = { n: '{ reply: 0 }', tick: '{ hook: ./hooks/slow.mts#slow, timers: [{ every: 50ms, reply: tick }] }' };
    const { t, client, sameConnection } = await serve(manifest(routes), { 'hooks/slow.mts': slowHook });
    const ticks = collect(client, 'tick_data');
    const before = reloadedLines(t).length;
    const inHook = next(client, 'slow.started');
    const pending = call(client, 'tick');
    await inHook;
    // The new version has an interval of the same period, to count periods with.
    t.write('sockey.yaml', manifest({ n: '{ reply: 1 }', beat: '{ reply: beating, timers: [{ every: 50ms, reply: beat }] }' }));
    await untilReloads(t, before + 1);
    expect(reloadedLines(t).at(-1)).toMatch(/-tick/);
    expect(await pending).toEqual(ok('done'));
    // A tick timer started when the message ended would have fired before the beats of an
    // interval started after its ack: six periods of it.
    const beats = collect(client, 'beat_data');
    expect(await call(client, 'beat')).toEqual(ok('beating'));
    await eventually(
      () => beats.length,
      (k) => k >= 6,
      'six beats',
    );
    await flush(client);
    expect(ticks).toEqual([]);
    expect(t.server.states.get(client.id!)!.timers.routes()).toEqual(['beat']);
    expect(unknownEvent(await call(client, 'tick'))).toBe(true);
    sameConnection();
  });

  it('a burst of 5 quick writes is one reload, and the last write is what serves', async () => {
    const { t, client, sameConnection } = await serve(manifest({ n: '{ reply: 0 }' }));
    const before = reloadedLines(t).length;
    // Five writes back to back (a save in steps, a formatter run, a git checkout).
    for (let i = 1; i <= 5; i++) t.write('sockey.yaml', manifest({ n: `{ reply: ${i} }` }));
    await untilReloads(t, before + 1);
    // The thing under test is the watcher's debounce, a real timer: no event tells that a second
    // reload is not coming, so time passes (5 x the 75 ms debounce, plus the compile).
    await sleep(400);
    expect(reloadedLines(t).length - before).toBe(1);
    expect(await call(client, 'n')).toEqual(ok(5));
    sameConnection();
  });

  it('a second save that lands right after the first one went live is not lost', async () => {
    // Two saves ~35 ms apart (format-on-save, an editor writing in steps): the second arrives
    // while chokidar still throttles change events of that file (50 ms after the first).
    const { t, client, sameConnection } = await serve(manifest({ n: '{ reply: 0 }' }));
    const before = reloadedLines(t).length;
    const start = Date.now();
    t.write('sockey.yaml', manifest({ n: '{ reply: 1 }' }));
    while (reloadedLines(t).length === before && Date.now() - start < 3000) await new Promise((r) => setImmediate(r));
    const gap = Date.now() - start;
    t.write('sockey.yaml', manifest({ n: '{ reply: 2 }' }));
    await untilReply(client, 'n', undefined, ok(2), `the second save (${gap} ms after the first) to go live`, 3000);
    sameConnection();
  });

  it('an edit that needs a restart (port, cors) is logged as such; the rest goes live', async () => {
    const { t, client, sameConnection } = await serve(manifest({ n: '{ reply: 0 }' }, 'server: { port: 8081 }'));
    const from = t.logs.lines.length;
    t.write('sockey.yaml', manifest({ n: '{ reply: 1 }' }, 'server: { port: 8082, cors: { origin: "http://example.test" } }'));
    await untilReply(client, 'n', undefined, ok(1));
    const warnings = await eventually(
      () => linesAt(t, 40, from),
      (l) => l.length >= 2,
      'the restart warnings',
    );
    expect(warnings).toEqual(['server.port changed: it takes effect after a restart', 'server.cors changed: it takes effect after a restart']);
    expect(new URL(t.url).port).toBe(String(t.server.port));
    sameConnection();
  });

  it('a reload queued behind a slow one still watches the files the new version names', async () => {
    // Importing slow.mts (ESM: top-level await) takes 400 ms, so a reload that imports it does; an edit made meanwhile is queued.
    // Each import also adds a line to imports.log, so the test sees when one has begun.
    const slow =
      'import { appendFileSync } from "node:fs";\nappendFileSync(new URL("./imports.log", import.meta.url), "import\\n");\nawait new Promise((r) => setTimeout(r, 400));\nexport const slow = () => "slow";\n';
    const { t, client, sameConnection } = await serve(manifest({ s: '{ hook: ./slow.mts#slow }' }), { 'slow.mts': slow, 'q.sql': 'SELECT 1;\n' });
    const imports = () => readFileSync(path.join(t.dir, 'imports.log'), 'utf8').split('\n').length - 1;
    const importsBefore = imports();
    const before = reloadedLines(t).length;
    // A changed hook route is compiled again, so this reload imports slow.mts (an unchanged one would be reused).
    const s2 = '{ hook: ./slow.mts#slow, description: changed }';
    t.write('sockey.yaml', manifest({ s: s2, a: '{ reply: a }' }));
    await eventually(imports, (k) => k > importsBefore, 'the first reload to be under way (importing slow.mts)');
    t.write('sockey.yaml', manifest({ s: s2, a: '{ reply: a }', q: '{ sql: ./q.sql, result: value }' }));
    await untilReply(client, 'q', undefined, ok(1), 'the queued version to serve');
    await untilReloads(t, before + 2);
    // q.sql came in with the queued version: an edit of it must go live (rewritten until seen: chokidar attaches asynchronously).
    await eventually(
      async () => {
        t.write('q.sql', 'SELECT 2;\n');
        return call(client, 'q');
      },
      (r) => r?.res === 2,
      'the edit of q.sql to go live',
      4000,
      300,
    );
    sameConnection();
  });

  it('a SQL file named before it exists goes live once it is created', async () => {
    const { t, client, sameConnection } = await serve(manifest({ n: '{ reply: 0 }' }));
    const rejected = rejectedLines(t).length;
    t.write('sockey.yaml', manifest({ n: '{ reply: 0 }', q: '{ sql: ./later.sql, result: value }' }));
    await eventually(
      () => rejectedLines(t).length,
      (k) => k > rejected,
      'the reload to be rejected',
    );
    expect(t.logs.lines.map((l) => l.msg)).toContainEqual(expect.stringMatching(/^sockey\.yaml:\d+:\d+ routes\.q\.sql: SQL file \.\/later\.sql cannot be read$/));
    expect(unknownEvent(await call(client, 'q'))).toBe(true);
    // The rejected reload put a watch on the folder (attached at once, before the rejection is
    // logged), so the file may be created right away.
    t.write('later.sql', 'SELECT 7;\n');
    await untilReply(client, 'q', undefined, ok(7), 'the new SQL file to bring the version in', 3000);
    sameConnection();
  });
});

describe('hot reload: switching the database under load', () => {
  const SCHEMA = 'CREATE TABLE IF NOT EXISTS whoami (name VARCHAR(20) NOT NULL);\n';
  const WHO = '{ sql: SELECT name FROM whoami, result: value }';
  const db = (section: string) => `database: { ${section}, schema: [./schema.sql], migrate: true }`;

  function seedSqlite(file: string, name: string) {
    mkdirSync(path.dirname(file), { recursive: true });
    const d = new Database(file);
    d.exec(SCHEMA);
    d.prepare('DELETE FROM whoami').run();
    d.prepare('INSERT INTO whoami (name) VALUES (?)').run(name);
    d.close();
  }

  /** Runs a steady load of `who` while `change` happens; ends once every client has seen `to` for a while. */
  async function switchUnderLoad(t: TestServer, clients: ClientSocket[], change: () => void, to: string) {
    const load = steadyLoad(clients, 'who');
    await eventually(
      () => load.results.length,
      (k) => k >= clients.length * 5,
      'the load to run',
    );
    const reloads = reloadedLines(t).length;
    change();
    await untilReloads(t, reloads + 1, 8000);
    await eventually(
      () => transitions(load.results).every((seq) => seq.at(-1) === to),
      (done) => done,
      `every client to read ${to}`,
      8000,
    );
    const afterSwitch = load.results.length;
    await eventually(
      () => load.results.length,
      (k) => k >= afterSwitch + clients.length * 5,
      'more load after the switch',
    );
    const results = await load.stop();
    return { results, failed: results.filter((r) => !r.ok) };
  }

  it('database.file a.db -> b.db with requests in flight: none fails, then reads come from b.db', async () => {
    const files = { 'schema.sql': SCHEMA };
    const { t, client, sameConnection } = await serve(manifest({ who: WHO }, db('driver: sqlite, file: ./data/a.db')), files);
    seedSqlite(path.join(t.dir, 'data/a.db'), 'a');
    seedSqlite(path.join(t.dir, 'data/b.db'), 'b');
    expect(await call(client, 'who')).toEqual(ok('a'));
    const others = await Promise.all(Array.from({ length: 7 }, () => t.client()));
    const { results, failed } = await switchUnderLoad(t, [client, ...others], () => t.write('sockey.yaml', manifest({ who: WHO }, db('driver: sqlite, file: ./data/b.db'))), 'b');
    expect(failed).toEqual([]);
    expect(results.length).toBeGreaterThan(80);
    expect(transitions(results)).toEqual(Array.from({ length: 8 }, () => ['a', 'b']));
    expect(reloadedLines(t).at(-1)).toMatch(/^reloaded \(sockey\.yaml changed\) in \d+ ms: .*~who.*; database now /);
    await eventually(() => t.logs.lines.some((l) => String(l.msg).startsWith('previous database closed')), Boolean, 'the old database to be closed');
    expect(await call(client, 'who')).toEqual(ok('b'));
    sameConnection();
  });

  it('SQLite -> MariaDB and back, with slow queries in flight on the pool: none fails, the old one is drained then closed', async () => {
    const maria = await createTestDatabase();
    try {
      const conn = await mysql.createConnection(maria.url);
      await conn.query(SCHEMA);
      await conn.query("INSERT INTO whoami (name) VALUES ('maria')");
      await conn.end();
      const { t, client, sameConnection } = await serve(manifest({ who: WHO }, db('driver: sqlite, file: ./data/a.db')), { 'schema.sql': SCHEMA });
      seedSqlite(path.join(t.dir, 'data/a.db'), 'a');
      const clients = [client, ...(await Promise.all(Array.from({ length: 7 }, () => t.client())))];

      // SLEEP keeps each MariaDB read on the pool for 20 ms.
      const slowWho = '{ sql: "SELECT name FROM whoami WHERE SLEEP(0.02) = 0", result: value }';
      const toMaria = await switchUnderLoad(t, clients, () => t.write('sockey.yaml', manifest({ who: slowWho }, db(`driver: mysql, url: "${maria.url}"`))), 'maria');
      expect(toMaria.failed).toEqual([]);
      expect(transitions(toMaria.results)).toEqual(Array.from({ length: 8 }, () => ['a', 'maria']));
      expect(t.server.db.dialect).toBe('mysql');
      await eventually(
        () => t.logs.lines.filter((l) => String(l.msg).startsWith('previous database closed')).length,
        (k) => k === 1,
        'the SQLite database to be closed',
      );

      const toSqlite = await switchUnderLoad(t, clients, () => t.write('sockey.yaml', manifest({ who: WHO }, db('driver: sqlite, file: ./data/a.db'))), 'a');
      expect(toSqlite.failed).toEqual([]);
      expect(transitions(toSqlite.results)).toEqual(Array.from({ length: 8 }, () => ['maria', 'a']));
      await eventually(
        () => t.logs.lines.filter((l) => String(l.msg).startsWith('previous database closed')).length,
        (k) => k === 2,
        'the MariaDB pool to be closed',
      );
      expect(t.logs.lines.filter((l) => l.level === 50)).toEqual([]);
      sameConnection();
    } finally {
      await w?.close();
      w = undefined;
      await t?.close();
      t = undefined;
      await maria.drop();
    }
  });
});

describe('sockey serve (the CLI, a child process)', () => {
  let app: ReturnType<typeof tempApp> | undefined;
  let child: Served | undefined;
  let reference: Served | undefined;
  let socket: ClientSocket | undefined;
  afterEach(async () => {
    socket?.disconnect();
    socket = undefined;
    await reference?.stop();
    reference = undefined;
    const code = await child?.stop();
    child = undefined;
    app?.cleanup();
    app = undefined;
    expect(code).toBe(0); // SIGTERM closes cleanly
  });

  async function connectTo(url: string) {
    const s = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('connect_error', reject);
    });
    return s;
  }

  /** `sockey serve sockey.yaml` on a free port of 127.0.0.1 in `dir` (NO_COLOR: plain lines to grep). */
  const startCli = (dir: string, args: string[] = []) => serveCli(['sockey.yaml', '--port', '0', '--host', '127.0.0.1', ...args], dir, { NO_COLOR: '1' });

  it('file edits go live (manifest and SQL file) and SIGHUP reloads, one connection throughout', async () => {
    app = tempApp({ 'sockey.yaml': manifest({ hello: '{ reply: v1 }' }), 'q.sql': 'SELECT 1;\n' });
    child = await startCli(app.dir);
    socket = await connectTo(child.url);
    const id = socket.id;
    expect(await call(socket, 'hello')).toEqual(ok('v1'));

    // Rewritten until seen: the child's watcher attaches asynchronously after it listens.
    await eventually(
      async () => {
        app!.write('sockey.yaml', manifest({ hello: '{ reply: v2 }', q: '{ sql: ./q.sql, result: value }' }));
        return call(socket!, 'hello');
      },
      (r) => r?.res === 'v2',
      'the manifest edit to go live',
      8000,
      300,
    );
    expect(await call(socket, 'q')).toEqual(ok(1));
    await eventually(
      async () => {
        app!.write('q.sql', 'SELECT 2;\n');
        return call(socket!, 'q');
      },
      (r) => r?.res === 2,
      'the SQL file edit to go live',
      8000,
      300,
    );
    expect(child.grep('reloaded (sockey.yaml changed)').length).toBeGreaterThanOrEqual(1);
    expect(child.grep('reloaded (q.sql changed)').length).toBeGreaterThanOrEqual(1);

    const hups = child.grep('reloaded (SIGHUP)').length;
    child.child.kill('SIGHUP');
    await eventually(
      () => child!.grep('reloaded (SIGHUP)').length,
      (k) => k === hups + 1,
      'the SIGHUP reload',
    );
    expect(child.grep('reloaded (SIGHUP)').at(-1)).toMatch(/reloaded \(SIGHUP\) in \d+ ms: no route changed/);
    expect(await call(socket, 'hello')).toEqual(ok('v2'));
    expect(socket.id).toBe(id);
    expect(socket.connected).toBe(true);
  });

  it('--no-watch ignores edits, and SIGHUP still reloads them', async () => {
    app = tempApp({ 'sockey.yaml': manifest({ hello: '{ reply: v1 }' }) });
    child = await startCli(app.dir, ['--no-watch']);
    socket = await connectTo(child.url);
    const id = socket.id;
    expect(await call(socket, 'hello')).toEqual(ok('v1'));
    app.write('sockey.yaml', manifest({ hello: '{ reply: v2 }', added: '{ reply: added }' }));
    // The yardstick for "a watcher would have reloaded by now": a watching child given the same
    // edit, after this one got it (rewritten until seen: its watcher attaches asynchronously).
    const other = tempApp({ 'sockey.yaml': manifest({ hello: '{ reply: v1 }' }) });
    try {
      reference = await startCli(other.dir);
      const ref = await connectTo(reference.url);
      try {
        await eventually(
          async () => {
            other.write('sockey.yaml', manifest({ hello: '{ reply: v2 }', added: '{ reply: added }' }));
            return call(ref, 'hello');
          },
          (r) => r?.res === 'v2',
          'the watching child to reload the same edit',
          8000,
          300,
        );
      } finally {
        ref.disconnect();
      }
      expect(await reference.stop()).toBe(0);
    } finally {
      await reference?.stop();
      reference = undefined;
      other.cleanup();
    }
    expect(await call(socket, 'hello')).toEqual(ok('v1'));
    expect(child.grep('reloaded')).toEqual([]);

    child.child.kill('SIGHUP');
    await untilReply(socket, 'hello', undefined, ok('v2'));
    expect(await call(socket, 'added')).toEqual(ok('added'));
    expect(child.grep('reloaded (SIGHUP)')).toHaveLength(1);
    expect(child.grep('reloaded (SIGHUP)')[0]).toMatch(/reloaded \(SIGHUP\) in \d+ ms: \+added ~hello/);
    expect(socket.id).toBe(id);
    expect(socket.connected).toBe(true);
  });
});

import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/cli/plugins.js';
import { REDACT_PATHS } from '../src/runtime/logger.js';
import { SockeyServer } from '../src/runtime/server.js';
import { LIVE_NOTICE_MS } from '../src/live/plugin.js';
import type { LiveNotice, PlaygroundInfo, PlaygroundState } from '../src/core/wire.js';
import { freePort, killAll, ROOT, serve, sockey } from './support/child.js';
import { eventually } from './support/flow.js';
import { call, collect, memoryLogger, next, startServer, tempApp, type TestServer } from './support/util.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  killAll();
});

/**
 * GET (or HEAD) with the path sent exactly as written: fetch() would resolve
 * `..` and `%2e%2e` segments itself before anything reached the server.
 */
function raw(
  base: string,
  rawPath: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: rawPath, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const BASE = `version: 1
database: { file: ./db.sqlite }
auth: { bcryptCost: 4 }
routes:
  hello:
    description: Says hello.
    params: { type: object, properties: { name: { type: string, default: world } } }
    reply: { hi: "{{params.name}}" }
`;

describe('http next to socket.io', () => {
  it('while the server starts (port bound, version still building), requests get 503, then the app answers', async () => {
    // Importing the hook takes 600 ms (top-level await): the start is under way meanwhile.
    const app = tempApp({ 'sockey.yaml': `${BASE}  slow: { hook: ./slow.mts#slow }\n`, 'slow.mts': 'await new Promise((r) => setTimeout(r, 600));\nexport const slow = () => "slow";\n' });
    try {
      const port = await freePort();
      const starting = SockeyServer.start({ cwd: app.dir, port, host: '127.0.0.1', log: memoryLogger().log, plugins: defaultPlugins() });
      const early = await eventually(
        () => fetch(`http://127.0.0.1:${port}/healthz`),
        () => true,
        'the port to be bound',
      );
      expect(early.status).toBe(503);
      expect(early.headers.get('retry-after')).toBe('1');
      const server = await starting;
      try {
        expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ ok: true, version: expect.stringMatching(/^[0-9a-f]{12}$/) });
      } finally {
        await server.close();
      }
    } finally {
      app.cleanup();
    }
  });

  it('answers /healthz, the playground page, its route table and its compiled modules', async () => {
    t = await startServer(BASE);
    expect(await (await fetch(`${t.url}/healthz`)).json()).toEqual({ ok: true, version: expect.stringMatching(/^[0-9a-f]{12}$/) });
    const page = await fetch(`${t.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('/_sockey/app.js');
    const info = (await (await fetch(`${t.url}/_sockey/routes.json`)).json()) as PlaygroundInfo;
    expect(info.auth.event).toBe('auth');
    expect(info.schedules).toEqual([]);
    const hello = info.routes.find((r) => r.event === 'hello')!;
    expect(hello).toMatchObject({ builtin: false, description: 'Says hello.', paramsSchema: { type: 'object', properties: { name: { type: 'string', default: 'world' } } } });
    expect(info.routes.find((r) => r.event === 'auth')?.builtin).toBe(true);
    const js = await fetch(`${t.url}/_sockey/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${t.url}/_sockey/nope.js`)).status).toBe(404);
    expect((await fetch(`${t.url}/socket.io/socket.io.js`)).status).toBe(200);
    expect((await fetch(`${t.url}/nothing-here`)).status).toBe(404);
    expect((await fetch(`${t.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it("the playground's route table lists the schedules: when, action, emit, next tick and the latest one run", async () => {
    const schedules = `schedules:
  beat:
    description: Ticks every second.
    every: 1s
    reply: { beat: "{{tick}}" }
    emit: all
  nightly:
    cron: "0 3 * * *"
    sql: SELECT :tick AS tick, :now AS secret_column
    emit: { to: room, room: ops }
`;
    t = await startServer(BASE + schedules);
    const info = async () => ((await (await fetch(`${t!.url}/_sockey/routes.json`)).json()) as PlaygroundInfo).schedules;
    const asked = Date.now();
    const [beat, nightly] = await info();
    expect(beat).toEqual({ name: 'beat', description: 'Ticks every second.', when: 'every 1000ms', action: 'reply', emit: 'all', next: expect.any(Number) });
    expect(beat!.next! % 1000).toBe(0);
    expect(beat!.next! - asked).toBeLessThanOrEqual(1000);
    expect(nightly).toEqual({ name: 'nightly', when: 'cron 0 3 * * *', action: 'sql', emit: 'room ops', next: expect.any(Number) });
    expect(new Date(nightly!.next!).toISOString()).toMatch(/T03:00:00\.000Z$/);
    // As for routes: what the action is, never its SQL.
    expect(JSON.stringify(await info())).not.toMatch(/SELECT|secret_column/);
    // Once a tick has run, it is the latest one; the next tick follows it.
    const ran = await eventually(info, (s) => s[0]!.last !== undefined, 'a tick of beat run', 4000, 100);
    expect(ran[0]!.last).toEqual({ tick: expect.any(Number), outcome: 'ok' });
    expect(ran[0]!.last!.tick % 1000).toBe(0);
    expect(ran[0]!.next).toBeGreaterThan(ran[0]!.last!.tick);
    expect(ran[1]!.last).toBeUndefined();
  });

  it('playground: false hides the page, the route table and its namespace', async () => {
    t = await startServer(BASE.replace('version: 1\n', 'version: 1\nserver: { playground: false }\n'));
    expect((await fetch(`${t.url}/`)).status).toBe(404);
    expect((await fetch(`${t.url}/_sockey/routes.json`)).status).toBe(404);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const { io } = await import('socket.io-client');
    const s = io(`${t.url}/_sockey`, { transports: ['websocket'], reconnection: false, forceNew: true });
    const err = await new Promise<Error>((resolve) => s.once('connect_error', resolve));
    s.disconnect();
    expect(err.message).toBe('playground is off');
  });

  it("the playground's namespace hears `live` notices as live queries move (throttled, the last state always told); state.json follows", async () => {
    const manifest = `version: 1
database: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }
auth: { enabled: false }
routes:
  notes.live:
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    live: true
    sql: SELECT id, text FROM notes WHERE board = :board ORDER BY id
  notes.add:
    params: { type: object, properties: { board: { type: integer }, text: { type: string } }, required: [board, text] }
    sql: INSERT INTO notes (board, text) VALUES (:board, :text)
`;
    t = await startServer(manifest, { 'schema.sql': 'CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, board INTEGER NOT NULL, text TEXT NOT NULL);\n' });
    const state = async () => ((await (await fetch(`${t!.url}/_sockey/state.json`)).json()) as PlaygroundState).live!;
    const { io } = await import('socket.io-client');
    const control = io(`${t.url}/_sockey`, { transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => control.once('connect', resolve).once('connect_error', reject));
      const notices = collect<LiveNotice>(control, 'live');
      const last = () => notices.at(-1)?.stats;

      // A subscription: told at once, and listed.
      const a = await t.client();
      expect(await call(a, 'notes.live', { board: 1 })).toMatchObject({ ok: true, res: [] });
      await eventually(last, (s) => s?.subscriptions === 1, 'a notice of the subscription', 2000);
      expect(await state()).toEqual({ stats: { subscriptions: 1, groups: 1, reruns: 0, pushes: 0 }, subscriptions: [{ event: 'notes.live', params: { board: 1 }, subscribers: 1 }] });

      // A burst of writes, each pushed: a few notices per second at most, and the last one tells the final counts.
      const before = notices.length;
      const started = Date.now();
      const writer = await t.client();
      for (let i = 1; i <= 20; i++) {
        const pushed = next(a, 'notes.live_data');
        await call(writer, 'notes.add', { board: 1, text: `n${i}` });
        expect(((await pushed) as { res: unknown[] }).res).toHaveLength(i);
      }
      const final = await state();
      expect(final.stats).toMatchObject({ subscriptions: 1, groups: 1, pushes: 20 });
      await eventually(last, (s) => JSON.stringify(s) === JSON.stringify(final.stats), 'the trailing notice with the final counts', LIVE_NOTICE_MS * 4);
      // 20 pushes: far fewer notices.
      expect(notices.length - before).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / LIVE_NOTICE_MS) + 1);

      // A second socket, then an unsubscribe and a disconnect: each told.
      const b = await t.client();
      await call(b, 'notes.live', { board: 2 });
      await eventually(last, (s) => s?.subscriptions === 2 && s.groups === 2, 'a notice of the second subscription', 2000);
      expect(await call(a, 'live', { type: 'unsubscribe', event: 'notes.live', params: { board: 1 } })).toMatchObject({ ok: true, res: { unsubscribed: 1 } });
      await eventually(last, (s) => s?.subscriptions === 1 && s.groups === 1, 'a notice of the unsubscribe', 2000);
      b.disconnect();
      await eventually(last, (s) => s?.subscriptions === 0 && s.groups === 0, 'a notice of the disconnect', 2000);
      expect((await state()).subscriptions).toEqual([]);
    } finally {
      control.disconnect();
    }
  });

  it('server.static serves the app files from the site root, ahead of the playground', async () => {
    t = await startServer(BASE.replace('version: 1\n', 'version: 1\nserver: { static: ./public }\n'), { 'public/index.html': '<h1>my app</h1>', 'public/app.css': 'h1 { color: red }' });
    expect(await (await fetch(`${t.url}/`)).text()).toBe('<h1>my app</h1>');
    const css = await fetch(`${t.url}/app.css`);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    expect(await css.text()).toBe('h1 { color: red }');
    expect(await (await fetch(`${t.url}/_sockey/`)).text()).toContain('/_sockey/app.js');
    expect((await raw(t.url, '/../sockey.yaml')).status).toBe(404);
    expect((await raw(t.url, '/%2e%2e/sockey.yaml')).status).toBe(404);
    expect((await raw(t.url, '/%2e%2e%2fsockey.yaml')).status).toBe(404);

    // Validators, HEAD, 304, ranges and a file created after the start (the disk is read per request).
    const etag = css.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"/);
    expect(css.headers.get('cache-control')).toBe('no-cache');
    expect(css.headers.get('last-modified')).toBeTruthy();
    expect((await fetch(`${t.url}/app.css`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await raw(t.url, '/app.css', { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(head.headers['content-length']).toBe('17');
    expect(head.headers['content-type']).toMatch(/text\/css/);
    const part = await raw(t.url, '/app.css', { headers: { range: 'bytes=0-1' } });
    expect(part).toMatchObject({ status: 206, body: 'h1' });
    expect(part.headers['content-range']).toBe('bytes 0-1/17');
    expect((await raw(t.url, '/app.css', { headers: { range: 'bytes=-3' } })).body).toBe('d }');
    expect((await raw(t.url, '/app.css', { headers: { range: 'bytes=40-' } })).status).toBe(416);
    expect((await fetch(`${t.url}/later.txt`)).status).toBe(404);
    t.write('public/later.txt', 'new');
    expect(await (await fetch(`${t.url}/later.txt`)).text()).toBe('new');
    t.write('public/about.html', '<p>about</p>');
    t.write('public/docs/index.html', '<p>docs</p>');
    expect(await (await fetch(`${t.url}/about`)).text()).toBe('<p>about</p>');
    expect(await (await fetch(`${t.url}/docs/`)).text()).toBe('<p>docs</p>');
  });
});

describe('static files are only what the folder means to publish', () => {
  const MANIFEST = BASE.replace('version: 1\n', 'version: 1\nserver: { static: ./public }\n');
  const FILES = {
    'public/index.html': '<h1>app</h1>',
    'public/app.css': 'h1 {}',
    'public/sub/page.html': '<p>page</p>',
    'public/.env': 'SECRET=dotenv',
    'public/.git/config': '[secret "git"]',
    'public/sub/.secret': 'secret-in-sub',
    'public/.well-known/acme-challenge/tok3n': 'acme-proof',
    'public/.well-known/.hidden': 'secret-in-well-known',
    'secret.txt': 'secret-outside',
    'outside/data.txt': 'secret-outside-dir',
  };

  it('dotfiles and dot-folders answer 404 in every spelling; /.well-known/ is served', async () => {
    t = await startServer(MANIFEST, FILES);
    for (const p of [
      '/.env',
      '/%2eenv',
      '/%2Eenv',
      '//.env',
      '/./.env',
      '/.git/config',
      '/%2Egit/config',
      '/%2egit%2fconfig',
      '/.git%2fconfig',
      '/sub/.secret',
      '/sub/%2esecret',
      '/sub//.secret',
      '/sub%2f.secret',
      '/sub\\.secret',
      '/sub%5c.secret',
      '/.well-known/.hidden',
      '/.well-known/%2ehidden',
      '/sub/../.env',
      '/_sockey/../.env',
      '/.env?x=1',
      '/.',
      '/%2e',
    ]) {
      const r = await raw(t.url, p);
      expect.soft(r.status, p).toBe(404);
      expect.soft(r.body, p).not.toMatch(/secret|dotenv/);
    }
    for (const p of ['/.well-known/acme-challenge/tok3n', '/%2ewell-known/acme-challenge/tok3n']) {
      const r = await raw(t.url, p);
      expect.soft(r, p).toMatchObject({ status: 200, body: 'acme-proof' });
    }
    expect((await raw(t.url, '/sub/page.html')).body).toBe('<p>page</p>');
  });

  it('a symlink is served only when its real path is inside the folder', async () => {
    t = await startServer(MANIFEST, FILES);
    const pub = path.join(t.dir, 'public');
    symlinkSync('../secret.txt', path.join(pub, 'link.txt'));
    symlinkSync(path.join(t.dir, 'secret.txt'), path.join(pub, 'absolute.txt'));
    symlinkSync('../outside', path.join(pub, 'outdir'));
    symlinkSync('../sockey.yaml', path.join(pub, 'manifest.html'));
    symlinkSync('.env', path.join(pub, 'dotlink.txt'));
    symlinkSync('app.css', path.join(pub, 'inside.css'));
    symlinkSync('sub', path.join(pub, 'indir'));
    for (const p of ['/link.txt', '/absolute.txt', '/outdir/data.txt', '/manifest.html', '/manifest', '/dotlink.txt']) {
      const r = await raw(t.url, p);
      expect.soft(r.status, p).toBe(404);
      expect.soft(r.body, p).not.toMatch(/secret|dotenv|version: 1/);
    }
    expect(await raw(t.url, '/inside.css')).toMatchObject({ status: 200, body: 'h1 {}' });
    expect(await raw(t.url, '/indir/page.html')).toMatchObject({ status: 200, body: '<p>page</p>' });
    // The folder itself may be a symlink (a release directory, say), made after the start.
    await t.close();
    t = await startServer(BASE.replace('version: 1\n', 'version: 1\nserver: { static: ./current }\n'), { 'releases/1/index.html': '<h1>release</h1>', 'secret.txt': 'secret-outside' });
    symlinkSync(path.join(t.dir, 'releases/1'), path.join(t.dir, 'current'));
    expect(await raw(t.url, '/')).toMatchObject({ status: 200, body: '<h1>release</h1>' });
    symlinkSync('../../secret.txt', path.join(t.dir, 'releases/1/leak.txt'));
    expect((await raw(t.url, '/leak.txt')).status).toBe(404);
  });

  it("the playground's own files obey the same rule", async () => {
    t = await startServer(BASE);
    const planted = [path.join(ROOT, 'playground/.sockey-test-secret'), path.join(ROOT, 'dist/playground/playground/src/.sockey-test-secret.js')];
    try {
      for (const f of planted) writeFileSync(f, 'planted-secret');
      for (const p of [
        '/_sockey/.sockey-test-secret',
        '/_sockey/%2esockey-test-secret',
        '/_sockey/.sockey-test-secret.js',
        '/_sockey//.sockey-test-secret',
        '/_sockey/%2e%2e/package.json',
        '/_sockey/..%2fpackage.json',
      ]) {
        const r = await raw(t.url, p);
        expect.soft(r.status, p).toBe(404);
        expect.soft(r.body, p).not.toContain('planted-secret');
      }
      expect((await raw(t.url, '/_sockey/style.css')).status).toBe(200);
      expect((await raw(t.url, '/_sockey/app.js')).status).toBe(200);
    } finally {
      for (const f of planted) rmSync(f, { force: true });
    }
  });
});

describe('logs', () => {
  it("the server's logger redacts passwords, tokens, keys and URLs logged as fields, at the top level and one level down", async () => {
    // A hook logs what it was given through ctx.log: the logger the server was started with
    // (startServer's memoryLogger is createLogger's JSON format, its redaction included).
    const hook = `export function audit(ctx) {
  const fields = {};
  for (const [path, value] of Object.entries(ctx.params.fields)) {
    const [outer, inner] = path.split('.');
    if (inner === undefined) fields[outer] = value;
    else fields[outer] = { ...fields[outer], [inner]: value, kept: 'visible' };
  }
  ctx.log.info({ ...fields, note: 'visible' }, 'audit');
  return true;
}
`;
    t = await startServer(`${BASE}  audit: { hook: ./audit.mjs#audit }\n`, { 'audit.mjs': hook });
    // Every redacted path, a wildcard one under a name of its own.
    // The top-level and one-level paths here; the deeper and list ones in the next test.
    const fields = Object.fromEntries(REDACT_PATHS.filter((p) => p.split('.').length <= 2 && !p.includes('[')).map((p, i) => [p.replace('*', `wrap${i}`), `s3cret-${i}-${p}`]));
    expect(Object.keys(fields).length).toBeGreaterThanOrEqual(8);
    expect(await call(await t.client(), 'audit', { fields })).toEqual({ ok: true, err: false, res: true });
    const line = t.logs.lines.find((l) => l.msg === 'audit');
    expect(line).toBeDefined();
    for (const p of Object.keys(fields)) {
      const [outer, inner] = p.split('.') as [string, string | undefined];
      const value = inner === undefined ? line![outer] : (line![outer] as Record<string, unknown>)[inner];
      expect(value, p).toBe('[redacted]');
      if (inner !== undefined) expect((line![outer] as Record<string, unknown>).kept).toBe('visible');
    }
    expect(line!.note).toBe('visible');
    expect(t.logs.text()).not.toMatch(/s3cret-/);
  });

  it('secrets two objects down, and in the items of a list, are redacted too', async () => {
    const { createLogger } = await import('../src/runtime/logger.js');
    const { Writable } = await import('node:stream');
    let out = '';
    const log = createLogger({ format: 'json', destination: new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }) });
    log.info({ req: { user: { password: 's3cret-a', name: 'ada' } }, users: [{ token: 's3cret-b' }, { key: 's3cret-c' }], db: { url: 's3cret-d' } }, 'nested');
    const line = JSON.parse(out.trim()) as { req: { user: { password: string; name: string } }; users: Array<Record<string, string>> };
    expect(line.req.user).toEqual({ password: '[redacted]', name: 'ada' });
    expect(line.users).toEqual([{ token: '[redacted]' }, { key: '[redacted]' }]);
    expect(out).not.toMatch(/s3cret-/);
  });

  it('--log json writes JSON lines on stderr', async () => {
    const app = tempApp({ 'sockey.yaml': BASE });
    try {
      const s = await serve(['--port', '0', '--no-watch', '--log', 'json'], app.dir);
      const lines = s.stderr().trim().split('\n');
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      const listening = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.startsWith('sockey listening on'));
      expect(listening?.level).toBe(30);
      s.child.kill('SIGTERM');
      await s.exited;
    } finally {
      app.cleanup();
    }
  });

  it('pretty logs by default: short human lines', async () => {
    const app = tempApp({ 'sockey.yaml': BASE });
    try {
      const s = await serve(['--port', '0', '--no-watch'], app.dir);
      expect(s.stderr()).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: sockey listening on http:\/\/127\.0\.0\.1:\d+ \(2 routes, sqlite .*db\.sqlite, version [0-9a-f]{12}\)$/m);
      s.child.kill('SIGTERM');
      await s.exited;
    } finally {
      app.cleanup();
    }
  });

  it('a database password never reaches the output, even when the connection fails', async () => {
    const manifest = BASE.replace('database: { file: ./db.sqlite }', 'database: { driver: mysql, url: "mysql://root:{{env.DB_PASSWORD}}@127.0.0.1:3306/test" }');
    const app = tempApp({ 'sockey.yaml': manifest });
    try {
      const r = sockey(['serve', '--port', '0', '--no-watch', '--log', 'json'], app.dir, { DB_PASSWORD: 'pw-s3cret/@x' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot start/);
      const all = r.stdout + r.stderr;
      expect(all).not.toContain('pw-s3cret');
      expect(all).not.toContain(encodeURIComponent('pw-s3cret/@x'));
    } finally {
      app.cleanup();
    }
  });
});

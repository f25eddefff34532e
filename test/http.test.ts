import { afterEach, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import { SockeyServer } from '../src/runtime/server.js';
import { freePort, killAll, serve, sockey } from './support/child.js';
import { eventually } from './support/reload-util.js';
import { memoryLogger, startServer, tempApp, type TestServer } from './support/util.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  killAll();
});

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
      const early = await eventually(() => fetch(`http://127.0.0.1:${port}/healthz`), () => true, 'the port to be bound');
      expect(early.status).toBe(503);
      expect(early.headers.get('retry-after')).toBe('1');
      const server = await starting;
      try {
        expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ ok: true });
      } finally {
        await server.close();
      }
    } finally {
      app.cleanup();
    }
  });

  it('answers /healthz, the playground page, its route table and its compiled modules', async () => {
    t = await startServer(BASE);
    expect(await (await fetch(`${t.url}/healthz`)).json()).toEqual({ ok: true });
    const page = await fetch(`${t.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('/_sockey/app.js');
    const info = (await (await fetch(`${t.url}/_sockey/routes.json`)).json()) as { routes: Array<{ event: string; builtin: boolean; paramsSchema: unknown; description?: string }>; auth: { event: string } };
    expect(info.auth.event).toBe('auth');
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

  it('server.static serves the app files from the site root, ahead of the playground', async () => {
    t = await startServer(BASE.replace('version: 1\n', 'version: 1\nserver: { static: ./public }\n'), { 'public/index.html': '<h1>my app</h1>', 'public/app.css': 'h1 { color: red }' });
    expect(await (await fetch(`${t.url}/`)).text()).toBe('<h1>my app</h1>');
    const css = await fetch(`${t.url}/app.css`);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    expect(await css.text()).toBe('h1 { color: red }');
    expect(await (await fetch(`${t.url}/_sockey/`)).text()).toContain('/_sockey/app.js');
    expect((await fetch(`${t.url}/../sockey.yaml`)).status).toBe(404);
    expect((await fetch(`${t.url}/%2e%2e/sockey.yaml`)).status).toBe(404);
  });
});

describe('logs', () => {
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
      expect(s.stderr()).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: sockey listening on http:\/\/127\.0\.0\.1:\d+ \(2 routes, sqlite .*db\.sqlite\)$/m);
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
      const r = await sockey(['serve', '--port', '0', '--no-watch', '--log', 'json'], app.dir, { DB_PASSWORD: 'pw-s3cret/@x' });
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

import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { authPlugin } from '../src/auth/plugin.js';
import { defaultPlugins } from '../src/cli/plugins.js';
import { livePlugin } from '../src/live/plugin.js';
import { Reloader } from '../src/reload/swap.js';
import { SockeyServer } from '../src/runtime/server.js';
import { manualClock } from './support/clock.js';
import { killRedises, privateRedis, type PrivateRedis } from './support/cluster.js';
import { freePort, runCli } from './support/child.js';
import { eventually } from './support/flow.js';
import { createTestDatabase, MYSQL_ROOT_URL } from './support/mysql.js';
import { parsePrometheus, samples, valueOf, type Family } from './support/prometheus.js';
import { tcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { call, memoryLogger, startServer, tempApp, type TestServer } from './support/util.js';

/** SPEC §8: metrics, readiness, and the logs an operator reads. */

let t: TestServer | undefined;
let redis: PrivateRedis | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  await redis?.stop();
  redis = undefined;
  for (const c of cleanups.splice(0)) await c();
});
afterAll(() => killRedises());

async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const APP = `version: 1
database: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }
auth: { bcryptCost: 4 }
server: { metrics: true }
routes:
  hello:
    params: { type: object, properties: { name: { type: string, maxLength: 5, default: world } }, additionalProperties: false }
    reply: { hi: "{{params.name}}" }
  lobby.join:
    join: lobby
    reply: { joined: true }
  notes.live:
    live: true
    sql: SELECT id, text FROM notes ORDER BY id
  boom:
    hook: ./hooks.mjs#boom
`;
const FILES = {
  'schema.sql': 'CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);\n',
  'hooks.mjs': `export const boom = () => { throw new Error('boom'); };
export const traced = (ctx) => {
  ctx.log.info({ n: ctx.params.n }, 'in the hook');
  if (ctx.params.fail) throw new Error('failure ' + ctx.params.n);
  return { n: ctx.params.n };
};
export const fails = () => { throw new Error('the database is gone'); };
export const other = () => { throw new Error('something else'); };
`,
};

const messages = (m: Map<string, Family>, event: string, code: string) => valueOf(m, 'sockey_messages_total', { event, code });

describe('metrics (server.metrics)', () => {
  it('server.metrics: true serves /metrics on the app port: messages by event and code, durations, sockets, rooms, live subscriptions, reloads, the pool', async () => {
    t = await startServer(APP, FILES);
    let m = await scrape(t.url);
    // Every route is there from the start (at 0), and the process's default metrics with it.
    expect(messages(m, 'hello', 'ok')).toBe(0);
    expect(messages(m, 'boom', 'ok')).toBe(0);
    expect(valueOf(m, 'sockey_sockets')).toBe(0);
    expect(valueOf(m, 'sockey_reloads_total', { result: 'ok' })).toBe(0);
    expect(valueOf(m, 'sockey_reloads_total', { result: 'rejected' })).toBe(0);
    expect(m.get('sockey_message_duration_seconds')?.type).toBe('histogram');
    expect(m.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect(valueOf(m, 'sockey_db_pool_in_use')).toBe(0);
    expect(valueOf(m, 'sockey_db_pool_waiting')).toBe(0);
    expect(valueOf(m, 'sockey_manifest_info', { version: t.server.table.version })).toBe(1);
    // No Redis metric without cluster:.
    expect(m.has('sockey_redis_up')).toBe(false);

    const a = await t.client();
    const b = await t.client();
    for (let i = 0; i < 3; i++) expect((await call(a, 'hello', { name: 'ada' })).ok).toBe(true);
    expect((await call(a, 'hello', { name: 'far too long' })).code).toBe('VALIDATION');
    expect((await call(b, 'boom')).code).toBe('INTERNAL');
    expect((await call(b, 'lobby.join')).ok).toBe(true);
    expect((await call(b, 'notes.live')).ok).toBe(true);
    m = await scrape(t.url);
    expect(messages(m, 'hello', 'ok')).toBe(3);
    expect(messages(m, 'hello', 'VALIDATION')).toBe(1);
    expect(messages(m, 'boom', 'INTERNAL')).toBe(1);
    expect(messages(m, 'boom', 'ok')).toBe(0);
    expect(valueOf(m, 'sockey_sockets')).toBe(2);
    expect(valueOf(m, 'sockey_rooms')).toBe(1);
    expect(valueOf(m, 'sockey_live_subscriptions')).toBe(1);
    // The histogram: cumulative buckets ending at +Inf = count, by event.
    const buckets = samples(m, 'sockey_message_duration_seconds_bucket', { event: 'hello' });
    expect(buckets.at(-1)).toMatchObject({ labels: { event: 'hello', le: '+Inf' }, value: 4 });
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(valueOf(m, 'sockey_message_duration_seconds_count', { event: 'hello' })).toBe(4);
    expect(valueOf(m, 'sockey_message_duration_seconds_sum', { event: 'hello' })).toBeGreaterThan(0);
    expect(valueOf(m, 'sockey_message_duration_seconds_count', { event: 'boom' })).toBe(1);

    // A reload that applies, then one that is rejected; counts go on across them.
    const reloader = new Reloader(t.server);
    t.write('sockey.yaml', APP.replace('reply: { hi: "{{params.name}}" }', 'reply: { hello: "{{params.name}}" }'));
    expect((await reloader.reload('test')).ok).toBe(true);
    t.write('sockey.yaml', APP + '  broken: { sqll: SELECT 1 }\n');
    expect((await reloader.reload('test')).ok).toBe(false);
    expect((await call(a, 'hello')).res).toEqual({ hello: 'world' });
    m = await scrape(t.url);
    expect(valueOf(m, 'sockey_reloads_total', { result: 'ok' })).toBe(1);
    expect(valueOf(m, 'sockey_reloads_total', { result: 'rejected' })).toBe(1);
    expect(messages(m, 'hello', 'ok')).toBe(4);
    expect(valueOf(m, 'sockey_manifest_info', { version: t.server.table.version })).toBe(1);
    expect(samples(m, 'sockey_manifest_info')).toHaveLength(1);

    b.disconnect();
    m = await eventually(
      () => scrape(t!.url),
      (x) => valueOf(x, 'sockey_sockets') === 1,
      'the socket to be gone',
    );
    expect(valueOf(m, 'sockey_live_subscriptions')).toBe(0);
    expect(valueOf(m, 'sockey_rooms')).toBe(0);
    // Liveness is as it was.
    expect(await (await fetch(`${t.url}/healthz`)).json()).toEqual({ ok: true, version: t.server.table.version });
  });

  it('events no route has are counted under one label value: what a client sends never becomes a label', async () => {
    t = await startServer(APP, FILES);
    const s = await t.client();
    const names = Array.from({ length: 40 }, () => `evil-${randomBytes(4).toString('hex')}`);
    for (const name of names) expect((await call(s, name, {})).code).toBe('UNKNOWN_EVENT');
    s.emit('no-ack-either');
    expect((await call(s, 'hello')).ok).toBe(true);
    const m = await scrape(t.url);
    expect(messages(m, '(unknown)', 'UNKNOWN_EVENT')).toBe(41);
    const events = new Set(samples(m, 'sockey_messages_total').map((x) => x.labels.event));
    expect([...events].sort()).toEqual(['(unknown)', 'auth', 'boom', 'hello', 'live', 'lobby.join', 'notes.live'].sort());
    const durationEvents = new Set(samples(m, 'sockey_message_duration_seconds_count').map((x) => x.labels.event));
    expect(durationEvents.has('(unknown)')).toBe(false);
    expect([...durationEvents].some((e) => e?.startsWith('evil'))).toBe(false);
  });

  it('server.metrics: { port } serves them on a listener of its own, and /metrics on the app port is a 404; off by default', async () => {
    t = await startServer(APP.replace('server: { metrics: true }', 'server: { metrics: { port: 0, host: 127.0.0.1 } }'), FILES);
    const port = t.server.metricsPort;
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(t.server.port);
    const s = await t.client();
    expect((await call(s, 'hello')).ok).toBe(true);
    const m = await scrape(`http://127.0.0.1:${port}`);
    expect(messages(m, 'hello', 'ok')).toBe(1);
    expect(valueOf(m, 'sockey_sockets')).toBe(1);
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(404);
    await t.close();
    t = undefined;
    // The listener closes with the server.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();

    t = await startServer(APP.replace('server: { metrics: true }\n', ''), FILES);
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    expect(t.server.metrics).toBeUndefined();
  });

  it('a metrics port in use stops the start before the database is opened; the same port as server.port is a manifest problem', async () => {
    const port = await freePort();
    const app = tempApp({ ...FILES, 'sockey.yaml': APP.replace('server: { metrics: true }', `server: { port: ${port}, metrics: { port: ${port} } }`) });
    cleanups.push(async () => app.cleanup());
    const out = await runCli(['validate'], app.dir);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/sockey\.yaml:\d+:\d+ server\.metrics\.port: the metrics listener needs a port of its own/);
    const bad = tempApp({ ...FILES, 'sockey.yaml': APP.replace('server: { metrics: true }', 'server: { metrics: { host: 127.0.0.1 } }') });
    cleanups.push(async () => bad.cleanup());
    const schema = await runCli(['validate'], bad.dir);
    expect(schema.code).toBe(1);
    expect(schema.stderr).toMatch(/server\.metrics/);

    const { createServer } = await import('node:net');
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(() => resolve())));
    const taken = (busy.address() as { port: number }).port;
    const inUse = tempApp({ ...FILES, 'sockey.yaml': APP.replace('server: { metrics: true }', `server: { metrics: { port: ${taken}, host: 127.0.0.1 } }`) });
    cleanups.push(async () => inUse.cleanup());
    await expect(SockeyServer.start({ cwd: inUse.dir, port: 0, host: '127.0.0.1', log: memoryLogger().log, plugins: defaultPlugins() })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const { existsSync } = await import('node:fs');
    expect(existsSync(`${inUse.dir}/db.sqlite`)).toBe(false);
  });
});

describe('logs: message ids and summaries of repeated lines', () => {
  it("every message has an id: in the route's error line, in its hook's ctx.log lines and in the debug line", async () => {
    t = await startServer(APP + '  traced:\n    params: { type: object }\n    hook: ./hooks.mjs#traced\n', FILES);
    const s = await t.client();
    expect((await call(s, 'traced', { n: 1 })).res).toEqual({ n: 1 });
    expect((await call(s, 'traced', { n: 2, fail: true })).code).toBe('INTERNAL');
    expect((await call(s, 'traced', { n: 3, fail: true })).code).toBe('INTERNAL');
    const lines = t.logs.lines;
    const inHook = lines.filter((l) => l.msg === 'in the hook');
    expect(inHook.map((l) => l.n)).toEqual([1, 2, 3]);
    const ids = inHook.map((l) => l.msgId as string);
    for (const id of ids) expect(id).toMatch(/^[0-9a-z]{4}-[0-9a-z]+$/);
    expect(new Set(ids).size).toBe(3);
    const failed = lines.filter((l) => l.msg === 'route failed');
    expect(failed.map((l) => [l.err, l.msgId])).toEqual([
      ['failure 2', ids[1]],
      ['failure 3', ids[2]],
    ]);
    // At debug level, one line per message: its id, event, code and time.
    const debug = lines.filter((l) => l.msg === 'message' && l.event === 'traced');
    expect(debug.map((l) => [l.msgId, l.code])).toEqual([
      [ids[0], 'ok'],
      [ids[1], 'INTERNAL'],
      [ids[2], 'INTERNAL'],
    ]);
    expect(typeof debug[0]!.ms).toBe('number');
  });

  it('a route failing the same way 1,000 times logs one full line, then one summary per interval', async () => {
    const clock = manualClock();
    t = await startServer(APP + '  fails: { hook: ./hooks.mjs#fails }\n  other: { hook: ./hooks.mjs#other }\n', FILES, {}, { clock, plugins: [authPlugin({ clock }), livePlugin()] });
    const s = await t.client();
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => call(s, 'fails')));
      expect(answers.every((a) => a.code === 'INTERNAL')).toBe(true);
    }
    const failed = () => t!.logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('route failed'));
    expect(failed()).toEqual([expect.objectContaining({ msg: 'route failed', event: 'fails', code: 'INTERNAL', err: 'the database is gone', msgId: expect.any(String), level: 50 })]);
    // Another error is not held back by the first.
    expect((await call(s, 'other')).code).toBe('INTERNAL');
    expect(failed().map((l) => l.err)).toEqual(['the database is gone', 'something else']);

    clock.advance(10_000);
    const summary = await eventually(
      () => failed().filter((l) => l.repeated !== undefined),
      (x) => x.length > 0,
      'the summary line',
    );
    expect(summary).toEqual([
      { level: 50, time: expect.any(Number), msg: 'route failed: repeated 999 times in the last 10s', event: 'fails', code: 'INTERNAL', err: 'the database is gone', repeated: 999, seconds: 10 },
    ]);
    // The other error did not repeat: no summary for it. Quiet for an interval, the next failure is written in full again.
    clock.advance(10_000);
    expect((await call(s, 'fails')).code).toBe('INTERNAL');
    expect(failed().map((l) => l.msg)).toEqual(['route failed', 'route failed', 'route failed: repeated 999 times in the last 10s', 'route failed']);
    // What was held back when the server closes is summarised then.
    expect((await call(s, 'fails')).code).toBe('INTERNAL');
    await t.close();
    const lines = t.logs.lines;
    t = undefined;
    expect(lines.filter((l) => l.repeated !== undefined).map((l) => l.msg)).toEqual(['route failed: repeated 999 times in the last 10s', 'route failed: repeated once in the last 1s']);
  });
});

describe('readiness (/readyz)', () => {
  it('503 while starting, then 200 with the version and the database up', async () => {
    const app = tempApp({ ...FILES, 'sockey.yaml': `${APP}  slow: { hook: ./slow.mts#slow }\n`, 'slow.mts': 'await new Promise((r) => setTimeout(r, 600));\nexport const slow = () => "slow";\n' });
    cleanups.push(async () => app.cleanup());
    const port = await freePort();
    const starting = SockeyServer.start({ cwd: app.dir, port, host: '127.0.0.1', log: memoryLogger().log, plugins: defaultPlugins() });
    const early = await eventually(
      () => readyz(`http://127.0.0.1:${port}`),
      () => true,
      'the port to be bound',
    );
    expect(early).toEqual({ status: 503, body: { ok: false, version: null, starting: true } });
    const server = await starting;
    cleanups.push(() => server.close());
    expect(await readyz(`http://127.0.0.1:${port}`)).toEqual({ status: 200, body: { ok: true, version: server.table.version, database: 'up' } });
  });

  it('names the database when MariaDB cannot be reached (503), and is ready again once it can', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const proxy: TcpProxy = await tcpProxy(Number(new URL(MYSQL_ROOT_URL).port || 3306), new URL(MYSQL_ROOT_URL).hostname);
    cleanups.push(() => proxy.stop());
    const url = new URL(db.url);
    url.port = String(proxy.port);
    t = await startServer(
      `version: 1\ndatabase: { driver: mysql, url: "${url}", pool: 2 }\nauth: { enabled: false }\nserver: { metrics: true }\nroutes:\n  one: { sql: SELECT 1 AS one, result: value }\n`,
    );
    const s = await t.client();
    expect((await call(s, 'one')).res).toBe(1);
    const version = t.server.table.version;
    expect(await readyz(t.url)).toEqual({ status: 200, body: { ok: true, version, database: 'up' } });

    await proxy.stop();
    expect(
      await eventually(
        () => readyz(t!.url),
        (r) => r.status === 503,
        '/readyz to say the database is down',
      ),
    ).toEqual({ status: 503, body: { ok: false, version, database: 'down' } });
    for (let i = 0; i < 20; i++) expect((await call(s, 'one')).code).toBe('DB_ERROR');
    const m = await scrape(t.url);
    expect(messages(m, 'one', 'DB_ERROR')).toBe(20);
    expect(messages(m, 'one', 'ok')).toBe(1);
    // 20 failures, a few kinds of driver error at most (the dropped connection, then the refused ones): not 20 lines.
    expect(t.logs.lines.filter((l) => l.msg === 'route failed').length).toBeLessThan(5);

    await proxy.start();
    expect(
      await eventually(
        () => readyz(t!.url),
        (r) => r.status === 200,
        '/readyz to say the database is back',
      ),
    ).toEqual({ status: 200, body: { ok: true, version, database: 'up' } });
    expect((await call(s, 'one')).res).toBe(1);
  });

  it('with cluster:, names Redis when it stops (503, sockey_redis_up 0), and is ready again once it is back', async () => {
    redis = await privateRedis();
    await redis.start();
    t = await startServer(
      `version: 1\ndatabase: { file: ./db.sqlite }\nauth: { enabled: false }\nserver: { metrics: true }\ncluster: { redis: "${redis.url}", prefix: ops${randomBytes(3).toString('hex')} }\nroutes:\n  hi: { reply: hi }\n`,
    );
    const version = t.server.table.version;
    expect(
      await eventually(
        () => readyz(t!.url),
        (r) => r.status === 200,
        'ready with Redis',
      ),
    ).toEqual({ status: 200, body: { ok: true, version, database: 'up', redis: 'up' } });
    expect(valueOf(await scrape(t.url), 'sockey_redis_up')).toBe(1);

    await redis.stop();
    expect(
      await eventually(
        () => readyz(t!.url),
        (r) => r.status === 503,
        '/readyz to say Redis is down',
      ),
    ).toEqual({ status: 503, body: { ok: false, version, database: 'up', redis: 'down' } });
    expect(valueOf(await scrape(t.url), 'sockey_redis_up')).toBe(0);
    // Still serving its own sockets.
    const s = await t.client();
    expect((await call(s, 'hi')).res).toBe('hi');

    await redis.start();
    expect(
      await eventually(
        () => readyz(t!.url),
        (r) => r.status === 200,
        '/readyz to say Redis is back',
      ),
    ).toEqual({ status: 200, body: { ok: true, version, database: 'up', redis: 'up' } });
    expect(valueOf(await scrape(t.url), 'sockey_redis_up')).toBe(1);
  });
});

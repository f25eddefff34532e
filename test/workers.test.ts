import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { spawnSync } from 'node:child_process';
import { BIN, killAll, serve, within, type Served } from './support/child.js';
import { REDIS_URL, redisPrefix } from './support/cluster.js';
import { ok, record } from './support/flow.js';
import { call, tempApp } from './support/util.js';

/** SPEC §6: `sockey serve --workers N`, real processes (the built bin), no Redis: the cluster adapter between workers. */
const MANIFEST = `version: 1
database: { driver: sqlite, file: ./data/app.db }
auth: { bcryptCost: 4 }
routes:
  whoami.worker:
    hook: ./hooks/pid.ts#pid
  echo:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { said: "{{params.text}}" }
  say:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { text: "{{params.text}}" }
    emit: all
  whoami:
    auth: required
    reply: { name: "{{auth.name}}" }
`;
const HOOK = `export function pid() {
  return { pid: process.pid, worker: process.env.SOCKEY_WORKER };
}
`;

/** N processes start one after the other; a busy machine (the suite runs files in parallel) needs time. */
const START_MS = 60_000;
const TEST_MS = 120_000;

/** Starts a primary with 2 workers; a failing test prints what they logged. */
async function start(dir: string): Promise<Served> {
  const s = await serve(['--workers', '2', '--port', '0', '--no-watch'], dir, {}, START_MS);
  onTestFailed(() => console.error(`sockey's stderr:\n${s.stderr()}`));
  return s;
}

/** The built bin to completion, with time for a primary and its workers. */
function sockey(argv: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...argv], { cwd, encoding: 'utf8', timeout: START_MS });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  killAll();
});

function app(manifest = MANIFEST) {
  const a = tempApp({ 'sockey.yaml': manifest, 'hooks/pid.ts': HOOK });
  cleanups.push(a.cleanup);
  return a;
}

async function client(url: string, transport: 'polling' | 'websocket', auth?: Record<string, unknown>): Promise<ClientSocket> {
  const socket = connect(url, { transports: [transport], forceNew: true, reconnection: false, auth });
  cleanups.unshift(() => socket.disconnect());
  // Bounded: a connection whose handshake never completes fails here, saying how far it got.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`a ${transport} client did not connect in 15 s (engine ${socket.io.engine?.id ?? 'not open'})`)), 15_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  return socket;
}

interface Where {
  pid: number;
  worker: string;
}
const where = async (s: ClientSocket, label = '') => {
  try {
    return ((await call(s, 'whoami.worker')) as { res: Where }).res;
  } catch (e) {
    throw new Error(`whoami.worker ${label} (socket ${s.id}, ${s.io.engine?.transport?.name}): ${(e as Error).message}`, { cause: e });
  }
};

/** Clients (alternating transports) until there is at least one on each of `n` workers. */
async function spread(s: Served, n: number, transports: Array<'polling' | 'websocket'> = ['polling', 'websocket']) {
  const clients: Array<{ socket: ClientSocket; at: Where; transport: string }> = [];
  for (let i = 0; i < 4 * n && new Set(clients.map((c) => c.at.worker)).size < n; i++) {
    const transport = transports[i % transports.length]!;
    const socket = await client(s.url, transport);
    clients.push({ socket, at: await where(socket, `spread client ${i}`), transport });
  }
  return clients;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// retry: 1 — under load a call to a freshly (re)started worker has been seen to go unanswered
// (about 1 run in 10 at load 4-18 on 2 cores, never alone); open, see README "Known limitations".
describe('sockey serve --workers', { timeout: TEST_MS, retry: 1 }, () => {
  it('polling and websocket clients are spread over the workers; an emit to all from one worker reaches the clients of the other', async () => {
    const a = app();
    const s = await start(a.dir);
    // One listening line, from the primary, with the real port; worker lines name their worker.
    expect(s.grep('sockey listening on')).toHaveLength(1);
    expect(s.grep('sockey listening on')[0]).toMatch(/2 workers/);
    expect(s.grep('[worker 1] ready')).toHaveLength(1);
    expect(s.grep('[worker 2] ready')).toHaveLength(1);

    const clients = [...(await spread(s, 2, ['polling'])), ...(await spread(s, 2, ['websocket']))];
    // Polling clients stick to their worker: every request of a session reaches the same process.
    for (const c of clients) {
      expect(await call(c.socket, 'echo', { text: c.transport })).toEqual(ok({ said: c.transport }));
      expect(await where(c.socket)).toEqual(c.at);
    }
    for (const t of ['polling', 'websocket']) expect(new Set(clients.filter((c) => c.transport === t).map((c) => c.at.worker))).toEqual(new Set(['1', '2']));

    const seen = clients.map((c) => record(c.socket));
    const from = clients.find((c) => c.at.worker === '1')!;
    expect(await call(from.socket, 'say', { text: 'to all' })).toEqual(ok({ text: 'to all' }));
    const heard = (e: { payload: unknown }) => (e.payload as { res?: { text?: string } }).res?.text === 'to all';
    for (const [i, events] of seen.entries()) {
      await until(`client ${i} (worker ${clients[i]!.at.worker}, ${clients[i]!.transport}) hears the emit`, () => events.some(heard));
    }
    expect(seen.map((events) => events.filter(heard).length)).toEqual(clients.map(() => 1));

    // HTTP goes through the primary to a worker too.
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
  });

  it('every websocket client connects: the primary stops reading a connection before it hands it to a worker (its first frame was lost)', async () => {
    const s = await start(app().dir);
    const stuck: string[] = [];
    const connectOne = (i: number) =>
      new Promise<void>((resolve) => {
        const socket = connect(s.url, { transports: ['websocket'], forceNew: true, reconnection: false });
        const timer = setTimeout(() => {
          stuck.push(`client ${i}: engine ${socket.io.engine?.id ?? 'not open'}`);
          socket.disconnect();
          resolve();
        }, 5000);
        socket.once('connect', () => {
          clearTimeout(timer);
          socket.disconnect();
          resolve();
        });
      });
    await Promise.all(Array.from({ length: 200 }, (_, i) => connectOne(i)));
    expect(stuck).toEqual([]);
  });

  it('SIGUSR2 restarts the workers one at a time under load: every call is answered (ok or UNAVAILABLE), none is lost, both workers are new', async () => {
    const s = await start(app().dir);
    const before = new Set((await spread(s, 2, ['websocket'])).map((c) => c.at.pid));
    expect(before.size).toBe(2);
    const answered: string[] = [];
    const unanswered: string[] = [];
    let running = true;
    const loops = Array.from({ length: 6 }, async (_, i) => {
      let socket = await client(s.url, 'websocket');
      for (let k = 0; running; k++) {
        if (!socket.connected) socket = await client(s.url, 'websocket');
        try {
          const r = (await socket.timeout(5000).emitWithAck('echo', { text: `${i}-${k}` })) as { ok: boolean; code?: string; res?: { said: string } };
          if (r.ok ? r.res?.said === `${i}-${k}` : r.code === 'UNAVAILABLE') answered.push(r.ok ? 'ok' : 'UNAVAILABLE');
          else unanswered.push(JSON.stringify(r));
        } catch {
          if (socket.connected) unanswered.push(`${i}-${k}: no ack`);
        }
      }
    });
    await until('calls flow', () => answered.length > 100);
    s.child.kill('SIGUSR2');
    await until('the rolling restart to end', () => s.grep('SIGUSR2: every worker restarted').length === 1, 60_000);
    const atEnd = answered.length;
    await until('calls flow after it', () => answered.length > atEnd + 100);
    running = false;
    await Promise.all(loops);
    expect(unanswered).toEqual([]);
    expect(s.grep('serves again')).toHaveLength(2);
    const after = new Set((await spread(s, 2, ['websocket'])).map((c) => c.at.pid));
    expect([...after].filter((pid) => before.has(pid))).toEqual([]);
  });

  it('with cluster: the workers share emits through Redis (the streams adapter, no cluster adapter)', async () => {
    const redis = redisPrefix();
    const a = app(MANIFEST.replace('auth:', `cluster: { redis: "${REDIS_URL}", prefix: ${redis.prefix} }\nauth:`));
    const s = await start(a.dir).catch(async (e: unknown) => {
      await redis.drop();
      throw e;
    });
    // Stopped first: the workers' heartbeats would write the stream again.
    cleanups.push(async () => {
      await s.stop();
      await redis.drop();
    });
    expect(s.grep('sockey listening on')[0]).toMatch(/2 workers, .*cluster sockey_test_/);
    const clients = await spread(s, 2);
    const seen = clients.map((c) => record(c.socket));
    const from = clients.find((c) => c.at.worker === '2')!;
    expect(await call(from.socket, 'say', { text: 'via redis' })).toEqual(ok({ text: 'via redis' }));
    const heard = (e: { payload: unknown }) => (e.payload as { res?: { text?: string } }).res?.text === 'via redis';
    for (const [i, events] of seen.entries()) await until(`client ${i} hears the emit`, () => events.some(heard));
    // Exactly once: not once through Redis and again through the cluster adapter.
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((events) => events.filter(heard).length)).toEqual(clients.map(() => 1));
  });

  it('a logout on one worker signs out the session on the other (server-side emits through the cluster adapter)', async () => {
    const a = app();
    const s = await start(a.dir);
    const [first] = await spread(s, 1, ['websocket']);
    const reg = await call(first!.socket, 'auth', { type: 'register', user: { name: 'alice', email: 'alice@example.com', password: 'pa55!word' } });
    expect(reg.ok).toBe(true);
    const token = (reg.res as { token: string }).token;
    // The same session by handshake, on the other worker.
    let other: ClientSocket | undefined;
    for (let i = 0; i < 8 && !other; i++) {
      const c = await client(s.url, 'websocket', { name: 'alice', token });
      if ((await where(c)).worker !== first!.at.worker) other = c;
    }
    expect(other, 'a client on the other worker').toBeDefined();
    expect(await call(other!, 'whoami')).toEqual(ok({ name: 'alice' }));
    expect(await call(first!.socket, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    let r = await call(other!, 'whoami');
    const started = Date.now();
    while (r.ok && Date.now() - started < 3000) r = await call(other!, 'whoami');
    expect(r).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
  });

  it('SIGHUP to the primary reloads every worker', async () => {
    const a = app();
    const s = await start(a.dir);
    const clients = await spread(s, 2, ['websocket']);
    a.write('sockey.yaml', MANIFEST + '  added:\n    reply: { v: 2 }\n');
    s.child.kill('SIGHUP');
    await until('both workers reload', () => s.grep('[worker 1] reloaded').length === 1 && s.grep('[worker 2] reloaded').length === 1);
    expect(new Set(clients.map((c) => c.at.worker))).toEqual(new Set(['1', '2']));
    for (const c of clients) expect(await call(c.socket, 'added')).toEqual(ok({ v: 2 }));
  });

  it('SIGTERM drains: the workers close and exit, the primary exits 0', async () => {
    const a = app();
    const s = await start(a.dir);
    const clients = await spread(s, 2, ['polling', 'websocket']);
    const pids = [...new Set(clients.map((c) => c.at.pid))];
    expect(pids).toHaveLength(2);
    const gone = clients.map((c) => new Promise<void>((resolve) => c.socket.once('disconnect', () => resolve())));
    s.child.kill('SIGTERM');
    expect(await within(s.exited, 30_000, 'the primary to exit')).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid), `worker ${pid}`).toBe(false);
    expect(s.grep('[worker 1] closed')).toHaveLength(1);
    expect(s.grep('[worker 2] closed')).toHaveLength(1);
    await within(Promise.all(gone), 10_000, 'the clients to be disconnected');
  });

  it('a worker killed with SIGKILL is started again; the other keeps answering meanwhile', async () => {
    const a = app();
    const s = await start(a.dir);
    const clients = await spread(s, 2, ['websocket']);
    const victim = clients.find((c) => c.at.worker === '2')!;
    const survivor = clients.find((c) => c.at.worker === '1')!;
    const dropped = new Promise<void>((resolve) => victim.socket.once('disconnect', () => resolve()));
    process.kill(victim.at.pid, 'SIGKILL');
    await within(dropped, 10_000, 'the victim’s client to be disconnected');
    expect(await call(survivor.socket, 'echo', { text: 'still here' })).toEqual(ok({ said: 'still here' }));
    // New clients meanwhile reach the worker that serves.
    const meanwhile = await client(s.url, 'polling');
    expect((await where(meanwhile)).pid).toBe(survivor.at.pid);
    await until('the primary logs the restart', () => s.grep('worker 2').some((l) => /killed by SIGKILL: starting it again in \d+ ms/.test(l)));
    await until('worker 2 serves again', () => s.grep('worker 2 (pid').some((l) => l.includes('serves again')));
    // Least connections: the fresh worker gets the next clients.
    const fresh = await spread(s, 2, ['websocket']);
    const restarted = fresh.find((c) => c.at.worker === '2');
    expect(restarted, 'a client on the restarted worker').toBeDefined();
    expect(restarted!.at.pid).not.toBe(victim.at.pid);
    expect(await call(restarted!.socket, 'echo', { text: 'back' })).toEqual(ok({ said: 'back' }));
    expect(await call(survivor.socket, 'say', { text: 'both' })).toEqual(ok({ text: 'both' }));
    expect(s.grep('sockey listening on')).toHaveLength(1);
    expect(await s.stop()).toBe(0);
  });

  it('--workers must be a number or auto (exit 2)', () => {
    const a = app();
    for (const bad of ['0', 'many']) {
      const r = sockey(['serve', '--workers', bad, '--port', '0'], a.dir);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toBe(`sockey serve: --workers must be a number of processes (1 or more) or auto, got "${bad}"\n`);
    }
    expect(sockey(['serve', '--help'], a.dir).stdout).toMatch(/--workers N\|auto/);
  });

  it('an invalid manifest with --workers exits 1 with its problems printed once', () => {
    const a = app();
    a.write('sockey.yaml', `version: 1\nroutes:\n  echo:\n    reply: hi\n    emit: room\n`);
    const r = sockey(['serve', '--workers', '2', '--port', '0', '--no-watch'], a.dir);
    expect(r.code).toBe(1);
    expect(r.stderr.match(/^sockey\.yaml:5:11 routes\.echo\.emit: /gm)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/listening/);
  });
});

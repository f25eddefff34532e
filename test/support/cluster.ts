import { spawn, type ChildProcess } from 'node:child_process';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { createClient } from 'redis';
import { createTestDatabase } from './mysql.js';
import { freePort, serve, type Served } from './child.js';
import { tempApp } from './util.js';

export const REDIS_URL = process.env.SOCKEY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own for one test; `drop()` deletes every key under it. */
export function redisPrefix(url: string = REDIS_URL): { prefix: string; drop(): Promise<void> } {
  const prefix = `sockey_test_${randomBytes(5).toString('hex')}`;
  return {
    prefix,
    async drop() {
      const c = createClient({ url });
      c.on('error', () => undefined);
      await c.connect();
      try {
        const keys: string[] = [];
        for await (const batch of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) keys.push(...batch);
        if (keys.length) await c.del(keys);
      } finally {
        await c.close();
      }
    },
  };
}

export interface TestCluster {
  nodes: Served[];
  prefix: string;
  dir: string;
  close(): Promise<void>;
}

export interface ClusterOptions {
  /**
   * Another Redis than the shared one (a private `redis-server` of the test, see
   * `privateRedis`). Its keys are not dropped at close: the test owns that server.
   */
  redisUrl?: string;
}

/**
 * `count` real `sockey serve` processes of one manifest on one MariaDB test
 * database and one Redis prefix (the manifest's `database:` and `cluster:`
 * are added here; `body` is the rest of it).
 */
export async function startCluster(count: number, body: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}, options: ClusterOptions = {}): Promise<TestCluster> {
  const db = await createTestDatabase();
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const redis = options.redisUrl ? { prefix: redisPrefix(redisUrl).prefix, drop: async () => undefined } : redisPrefix();
  const manifest = `version: 1
database: { driver: mysql, url: "${db.url}", schema: [./schema.sql], migrate: true }
cluster: { redis: "${redisUrl}", prefix: ${redis.prefix} }
${body}`;
  const app = tempApp({ 'sockey.yaml': manifest, 'schema.sql': files['schema.sql'] ?? 'CREATE TABLE IF NOT EXISTS nothing (id INT);\n', ...files });
  const nodes: Served[] = [];
  try {
    // The first applies the schema; the others find it done and start together.
    nodes.push(await serve(['--port', '0'], app.dir, env));
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, () => serve(['--port', '0'], app.dir, env)));
    for (const r of rest) if (r.status === 'fulfilled') nodes.push(r.value);
    const failed = rest.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    await db.drop();
    await redis.drop();
    app.cleanup();
    throw e;
  }
  return {
    nodes,
    prefix: redis.prefix,
    dir: app.dir,
    async close() {
      await Promise.all(nodes.map((n) => n.stop()));
      await db.drop();
      await redis.drop();
      app.cleanup();
    },
  };
}

/** A `redis-server` of one test on a free port, without persistence; `stop()` and `start()` again on the same port. */
export interface PrivateRedis {
  port: number;
  url: string;
  /** Starts it (again, on the same port) and resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGKILL (like a crash or a lost machine) and resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGSTOP: Redis hangs (connections stay open, nothing is answered), like a partition; `resume()` is SIGCONT. */
  pause(): void;
  resume(): void;
  readonly running: boolean;
}

/** Resolves true when something on `port` answers PING with PONG within `ms`. */
function pings(port: number, ms = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

const redises = new Set<ChildProcess>();

/** A private Redis (not started yet): `await r.start()`. */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child) return;
      const c = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' });
      child = c;
      redises.add(c);
      exited = new Promise((resolve) => c.once('exit', () => (redises.delete(c), resolve())));
      const end = Date.now() + 5000;
      while (!(await pings(port))) {
        if (Date.now() > end) throw new Error(`redis-server on ${port} did not answer within 5 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      if (!child) return;
      child.kill('SIGKILL');
      child = undefined;
      await exited;
    },
  };
}

/** Kills every private Redis still running (for afterEach). */
export function killRedises(): void {
  for (const c of redises) c.kill('SIGKILL');
  redises.clear();
}

const clients: ClientSocket[] = [];

/** A websocket client of a node's `url`, connected (rejects on connect_error); `disconnectClients()` ends them all. */
export async function nodeClient(url: string, auth?: Record<string, unknown>): Promise<ClientSocket> {
  const s = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  clients.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', reject);
  });
  return s;
}

/** Disconnects every client `nodeClient` opened (for afterEach). */
export function disconnectClients(): void {
  for (const s of clients.splice(0)) s.disconnect();
}

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import type { Logger } from 'pino';
import { createLogger } from '../../src/runtime/logger.js';
import { defaultPlugins } from '../../src/cli/plugins.js';
import type { ServerPlugin } from '../../src/pipeline/plugin.js';
import { authPlugin } from '../../src/auth/plugin.js';
import type { Clock } from '../../src/core/clock.js';
import { SockeyServer } from '../../src/runtime/server.js';
import { createTestDatabase } from './mysql.js';

/** A temp folder with the given files (relative path -> content); removed by `cleanup()`. */
export function tempApp(files: Record<string, string>): { dir: string; write(rel: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sockey-test-'));
  const write = (rel: string, text: string) => {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  };
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  return { dir, write, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger whose JSON lines are kept in `lines` (so tests can assert what was logged). */
export function memoryLogger(): { log: Logger; lines: Array<Record<string, unknown>>; text(): string } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  // The server's own logger (its redaction included), writing JSON lines here.
  const log = createLogger({ format: 'json', level: 'debug', destination: stream });
  return { log, lines, text: () => lines.map((l) => JSON.stringify(l)).join('\n') };
}

export interface TestServer {
  server: SockeyServer;
  url: string;
  dir: string;
  logs: ReturnType<typeof memoryLogger>;
  write(rel: string, text: string): string;
  client(options?: Parameters<typeof connect>[1]): Promise<ClientSocket>;
  close(): Promise<void>;
}

/**
 * Starts a real sockey server on a free port of 127.0.0.1 for a manifest
 * (YAML text) and extra files, in a temp folder. `close()` disconnects
 * every client made through it and removes the folder. `plugins` replaces
 * the default ones (to give the auth plugin a test clock, say).
 */
export async function startServer(manifest: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}, options: { plugins?: ServerPlugin[]; clock?: Clock } = {}): Promise<TestServer> {
  const app = tempApp({ 'sockey.yaml': manifest, ...files });
  const logs = memoryLogger();
  let server: SockeyServer;
  try {
    server = await SockeyServer.start({
      manifest: 'sockey.yaml',
      cwd: app.dir,
      port: 0,
      host: '127.0.0.1',
      env: { ...process.env, ...env },
      log: logs.log,
      clock: options.clock,
      plugins: options.plugins ?? (options.clock ? [authPlugin({ clock: options.clock })] : defaultPlugins()),
    });
  } catch (e) {
    app.cleanup();
    throw e;
  }
  const url = `http://127.0.0.1:${server.port}`;
  const clients: ClientSocket[] = [];
  return {
    server,
    url,
    dir: app.dir,
    logs,
    write: app.write,
    async client(options) {
      const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...options });
      clients.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      return socket;
    },
    async close() {
      for (const c of clients) c.disconnect();
      await server.close();
      app.cleanup();
    },
  };
}

/** Emits with an ack and resolves with what the server acked. */
export function call<T = any>(socket: ClientSocket, event: string, payload?: unknown, timeoutMs = 5000): Promise<T> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
}

/** Resolves with the next payload of `event` on `socket`, or rejects after `timeoutMs`. */
export function next<T = any>(socket: ClientSocket, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, on);
  });
}

/** Collects every payload of `event` on `socket` from now on. */
export function collect<T = any>(socket: ClientSocket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (p: T) => seen.push(p));
  return seen;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A manifest of the given routes (event -> YAML flow value) under a head (the database line by default). */
export function manifestOf(routes: Record<string, string>, head = 'database: { driver: sqlite, file: ./data/app.db }'): string {
  return `version: 1\n${head}\nroutes:\n${Object.entries(routes)
    .map(([event, body]) => `  ${event}: ${body}`)
    .join('\n')}\n`;
}

export type DriverName = 'sqlite' | 'mysql';

/**
 * A server of `body` (the manifest after `version` and `database`) on `driver`,
 * with `files['schema.sql']` migrated: a SQLite file in the app's folder, or
 * a MariaDB test database of its own (`dbUrl`), which `close()` drops.
 */
export async function startOn(driver: DriverName, body: string, files: Record<string, string>, options: { pool?: number } = {}): Promise<TestServer & { dbUrl?: string }> {
  if (driver === 'sqlite') return startServer(`version: 1\ndatabase: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }\n${body}`, files);
  const db = await createTestDatabase();
  const pool = options.pool === undefined ? '' : `pool: ${options.pool}, `;
  try {
    const t = await startServer(`version: 1\ndatabase: { driver: mysql, url: "${db.url}", ${pool}schema: [./schema.sql], migrate: true }\n${body}`, files);
    return {
      ...t,
      dbUrl: db.url,
      async close() {
        await t.close();
        await db.drop();
      },
    };
  } catch (e) {
    await db.drop();
    throw e;
  }
}

/** A new socket signed in as a newly registered `name` (password `pa55!word`). */
export async function signedUp(t: Pick<TestServer, 'client'>, name: string): Promise<ClientSocket> {
  const s = await t.client();
  const r = await call(s, 'auth', { type: 'register', user: { name, email: `${name}@example.com`, password: 'pa55!word' } });
  if (!r.ok) throw new Error(`register ${name}: ${JSON.stringify(r)}`);
  return s;
}

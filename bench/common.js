// Helpers of the live-queries benchmark (bench/live.js, bench/live-baseline.js): a throw-away
// MariaDB database, server child processes, load sockets and statistics (CPU counters: proc.js).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { io as connect } from 'socket.io-client';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');

export const START_MS = 20_000; // a server must listen within this
export const CONNECT_MS = 10_000; // all sockets must connect within this

export function log(line) {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------- database

/**
 * Creates a database `<prefix>_<random>` on the server of `rootUrl` (an account that may
 * create databases, e.g. mysql://root@127.0.0.1:3306). `created(db)` is called as soon as
 * it exists, before `schema(conn)` runs on a connection that uses it, so that a caller's
 * cleanup can drop it even when the schema step fails. Resolves with
 * `{ name, url, drop() }`, `url` being `rootUrl` with the database as its path.
 */
export async function createDatabase(rootUrl, { prefix = 'sockey_bench', created, schema }) {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const server = new URL(rootUrl);
  server.pathname = '/';
  const url = new URL(rootUrl);
  url.pathname = `/${name}`;
  const db = {
    name,
    url: url.toString(),
    async drop() {
      const c = await mysql.createConnection({ uri: server.toString(), connectTimeout: 5000 });
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
  const conn = await mysql.createConnection({ uri: server.toString(), connectTimeout: 5000 });
  try {
    await conn.query(`CREATE DATABASE \`${name}\``);
    created?.(db);
    await conn.query(`USE \`${name}\``);
    await schema?.(conn);
  } finally {
    await conn.end();
  }
  return db;
}

// ---------------------------------------------------------------- servers

export function parseJson(line) {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** `ready` for `sockey serve --log json`: the port of its `sockey listening on http://HOST:PORT (...)` line. */
export function sockeyReady(line, stream) {
  if (stream !== 'stderr') return undefined;
  const m = /^sockey listening on http:\/\/[^\s]+:(\d+) \(/.exec(parseJson(line)?.msg ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `isProblem` for `sockey serve --log json`: warnings and above, or a line that is not JSON. */
export function sockeyProblem(line) {
  const rec = parseJson(line);
  return !rec || typeof rec.level !== 'number' || rec.level >= 40;
}

/** `ready` for the hand-written servers: `listening on PORT` on stdout. */
export function listeningReady(line, stream) {
  const m = stream === 'stdout' ? /^listening on (\d+)$/.exec(line) : null;
  return m ? Number(m[1]) : undefined;
}

/** `isProblem` for the hand-written servers: anything on stderr. */
export const stderrProblem = (_line, stream) => stream === 'stderr';

/**
 * The server children of a run. `start(label, args, env, ready, isProblem)` runs
 * `node [nodeArgs] args` in the repository and resolves with its handle (label, pid,
 * port, stop(), exited, problems) once `ready(line, stream)` returns a port. Its output
 * is kept; warnings and errors (`isProblem`) are printed as they come. A child that exits
 * before `stopAll()` calls `onUnexpectedExit(message)`.
 */
export function serverChildren({ nodeArgs = [], onUnexpectedExit }) {
  const children = new Set();
  let stopping = false;

  function start(label, args, env, ready, isProblem) {
    const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    const problems = [];
    let done = false;
    let resolveExit;
    const handle = {
      label,
      pid: child.pid,
      problems,
      problemCount: 0,
      exited: new Promise((r) => (resolveExit = r)),
      stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, 3000).unref();
      },
    };
    children.add(handle);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${label} did not start within ${START_MS / 1000} s`)), START_MS);
      function finish(err, port) {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(new Error(`${err.message}\n--- ${label} output ---\n${tail.join('\n')}`));
        else resolve(Object.assign(handle, { port }));
      }
      const lines = (stream, name) => {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf('\n')) !== -1) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            tail.push(line);
            if (tail.length > 50) tail.shift();
            if (!done) {
              const port = ready(line, name);
              if (port) finish(undefined, port);
            } else if (isProblem(line, name)) {
              handle.problemCount++;
              if (problems.length < 100) problems.push(line);
              if (handle.problemCount <= 10) log(`  [${label}] ${line}`);
              else if (handle.problemCount === 11) log(`  [${label}] (more output of ${label} is counted, not printed)`);
            }
          }
        });
      };
      lines(child.stdout, 'stdout');
      lines(child.stderr, 'stderr');
      child.on('error', (e) => finish(e));
      child.on('exit', (code, signal) => {
        children.delete(handle);
        resolveExit();
        if (!done) finish(new Error(`${label} exited (${signal ?? code}) before listening`));
        else if (!stopping) onUnexpectedExit?.(`${label} exited unexpectedly (${signal ?? code})\n${tail.join('\n')}`);
      });
    });
  }

  /** Stops every child (SIGTERM, SIGKILL after 3 s) and waits for them to exit. */
  async function stopAll() {
    stopping = true;
    for (const child of children) child.stop();
    await Promise.all([...children].map((c) => c.exited));
  }

  return { start, stopAll };
}

// ---------------------------------------------------------------- CPU

// One copy of the /proc counters for every bench.
export { CLK_TCK, cpuMs, machineCpuMs, allProcessesCpu, findDatabasePid } from './proc.js';

// ---------------------------------------------------------------- load

/** N sockets to one server, all connected, websocket only, one connection each. */
export async function openSockets(port, n) {
  const url = `http://127.0.0.1:${port}`;
  const sockets = [];
  try {
    await Promise.all(
      Array.from({ length: n }, () => {
        const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: CONNECT_MS });
        sockets.push(socket);
        return new Promise((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', (e) => reject(new Error(`cannot connect to ${url}: ${e.message}`)));
        });
      }),
    );
  } catch (e) {
    for (const s of sockets) s.disconnect();
    throw e;
  }
  return sockets;
}

// ---------------------------------------------------------------- statistics

/** The q-quantile (0..1) of `values`, nearest rank; NaN when empty. */
export function percentile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

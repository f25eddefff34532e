#!/usr/bin/env node
// sockey throughput/latency benchmark: sockey (bench/sockey.bench.yaml) against the
// same two events hand-written with socket.io + mysql2 (bench/handwritten.js).
//
//   npm run bench                         # build, then the defaults below
//   node bench/run.js --duration 2 --rounds 1 --scenario echo
//
// Everything is on 127.0.0.1. A random MariaDB database is created for the run and
// dropped at the end (also on error, Ctrl-C and the overall time limit). See bench/README.md.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { io as connect } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

// ---------------------------------------------------------------- options

const HELP = `Usage: node bench/run.js [options]     (npm run bench -- [options])

Options (each also from the environment variable in brackets):
  --duration S    measured seconds per round (default 5)            [BENCH_DURATION]
  --warmup S      discarded seconds at the start of a round (default 1) [BENCH_WARMUP]
  --rounds N      rounds per server and scenario (default 3)        [BENCH_ROUNDS]
  --clients N     socket.io-client sockets, each a closed loop (default 32) [BENCH_CLIENTS]
  --scenario X    echo | user.get | all (default all)               [BENCH_SCENARIO]
  --retries N     repeat a round up to N times while other processes use more than
                  15% of a core during it (default 2; the last attempt is kept) [BENCH_RETRIES]
  --quiet-wait S  before a round, wait up to S seconds while other processes use more
                  than 15% of a core (default 20; 0 = never wait)    [BENCH_QUIET_WAIT]
  -h, --help      this help

BENCH_MYSQL_ROOT_URL  an account that may create databases (default mysql://root@127.0.0.1:3306)
BENCH_NODE_ARGS       extra node flags for both servers (e.g. "--cpu-prof --cpu-prof-dir=bench/results/prof")
BENCH_SOCKEY_BIN      another sockey build's bin/sockey.js to measure (default this checkout's)
`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    clients: { type: 'string' },
    retries: { type: 'string' },
    'quiet-wait': { type: 'string' },
    scenario: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function option(name, env, fallback, check) {
  const raw = flags[name] ?? process.env[env] ?? fallback;
  const n = Number(raw);
  if (!check(n)) {
    process.stderr.write(`bench: --${name} ${raw} is out of range\n\n${HELP}`);
    process.exit(2);
  }
  return n;
}
const opts = {
  durationS: option('duration', 'BENCH_DURATION', '5', (n) => n > 0 && n <= 300),
  warmupS: option('warmup', 'BENCH_WARMUP', '1', (n) => n >= 0 && n <= 60),
  rounds: option('rounds', 'BENCH_ROUNDS', '3', (n) => Number.isInteger(n) && n >= 1 && n <= 50),
  clients: option('clients', 'BENCH_CLIENTS', '32', (n) => Number.isInteger(n) && n >= 1 && n <= 1000),
  retries: option('retries', 'BENCH_RETRIES', '2', (n) => Number.isInteger(n) && n >= 0 && n <= 5),
  quietWaitS: option('quiet-wait', 'BENCH_QUIET_WAIT', '20', (n) => n >= 0 && n <= 300),
  scenario: flags.scenario ?? process.env.BENCH_SCENARIO ?? 'all',
  rootUrl: process.env.BENCH_MYSQL_ROOT_URL ?? 'mysql://root@127.0.0.1:3306',
};

const USERS = 10_000;
const BARS = { echo: 0.85, 'user.get': 0.95 };
const SCENARIOS = {
  echo: {
    event: 'echo',
    payload: () => ({ text: 'hello world' }),
    check: (p, res) => res !== null && typeof res === 'object' && res.text === p.text && Object.keys(res).length === 1,
  },
  'user.get': {
    event: 'user.get',
    payload: () => ({ id: 1 + Math.floor(Math.random() * USERS) }),
    check: (p, res) => res !== null && typeof res === 'object' && res.id === p.id && res.name === `user${p.id}` && res.email === `user${p.id}@example.com`,
  },
};
const scenarioNames = opts.scenario === 'all' ? Object.keys(SCENARIOS) : [opts.scenario];
if (!scenarioNames.every((s) => s in SCENARIOS)) {
  process.stderr.write(`bench: --scenario must be echo, user.get or all, got "${opts.scenario}"\n`);
  process.exit(2);
}

// Extra node flags for both server children, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/results/prof".
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

// Another sockey build to measure (e.g. a patched copy): the path of its bin/sockey.js.
const sockeyBin = path.resolve(process.env.BENCH_SOCKEY_BIN ?? path.join(root, 'bin/sockey.js'));

const DRAIN_MS = 5_000; // after a round: how long in-flight requests may still take
const START_MS = 20_000; // a server must listen within this
const CONNECT_MS = 10_000; // all sockets must connect within this

// ---------------------------------------------------------------- cleanup

const children = new Set();
let database; // { name, drop() }
let cleaning;

function cleanup() {
  cleaning ??= (async () => {
    for (const child of children) child.stop();
    await Promise.all([...children].map((c) => c.exited));
    if (database) {
      try {
        await database.drop();
        log(`dropped database ${database.name}`);
      } catch (e) {
        log(`could not drop database ${database.name}: ${e.message}`);
      }
    }
  })();
  return cleaning;
}

async function bail(code, why) {
  if (why) process.stderr.write(`\nbench: ${why}\n`);
  const hard = setTimeout(() => process.exit(code), 10_000);
  hard.unref();
  await cleanup();
  process.exit(code);
}

process.on('SIGINT', () => void bail(130, 'interrupted'));
process.on('SIGTERM', () => void bail(143, 'terminated'));
process.on('uncaughtException', (e) => void bail(1, e.stack ?? String(e)));
process.on('unhandledRejection', (e) => void bail(1, e?.stack ?? String(e)));

// The whole run is bounded: rounds, connects, drains and setup with a generous margin.
const perRound = opts.warmupS * 1000 + opts.durationS * 1000 + DRAIN_MS + 1000;
const budgetMs = 2 * (scenarioNames.length * 2 * opts.rounds * (1 + opts.retries) * (perRound + opts.quietWaitS * 1000 + 1000)) + 2 * START_MS + 4 * CONNECT_MS + 60_000;
setTimeout(() => void bail(1, `the benchmark did not finish within ${Math.round(budgetMs / 1000)} s: aborted`), budgetMs).unref();

function log(line) {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------- database

async function createDatabase() {
  const name = `sockey_bench_${randomBytes(5).toString('hex')}`;
  const rootUrl = new URL(opts.rootUrl);
  rootUrl.pathname = '/';
  const conn = await mysql.createConnection({ uri: rootUrl.toString(), connectTimeout: 5000 });
  try {
    await conn.query(`CREATE DATABASE \`${name}\``);
    database = {
      name,
      async drop() {
        const c = await mysql.createConnection({ uri: rootUrl.toString(), connectTimeout: 5000 });
        try {
          await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        } finally {
          await c.end();
        }
      },
    };
    await conn.query(`USE \`${name}\``);
    await conn.query(`CREATE TABLE bench_users (
      id INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(64) NOT NULL,
      email VARCHAR(128) NOT NULL
    ) ENGINE=InnoDB`);
    for (let start = 1; start <= USERS; start += 1000) {
      const rows = [];
      for (let id = start; id < start + 1000 && id <= USERS; id++) rows.push([id, `user${id}`, `user${id}@example.com`]);
      await conn.query('INSERT INTO bench_users (id, name, email) VALUES ?', [rows]);
    }
    const [[{ n }]] = await conn.query('SELECT COUNT(*) AS n FROM bench_users');
    if (Number(n) !== USERS) throw new Error(`bench_users has ${n} rows, expected ${USERS}`);
  } finally {
    await conn.end();
  }
  const url = new URL(opts.rootUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

// ---------------------------------------------------------------- servers

/**
 * Starts a server child and resolves with its port once `ready(line, stream)`
 * returns one. Its output is kept; warnings and errors are printed as they come.
 */
function startServer(label, args, env, ready, isProblem) {
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
      else if (!cleaning) void bail(1, `${label} exited unexpectedly (${signal ?? code})\n${tail.join('\n')}`);
    });
  });
}

function parseJson(line) {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function startSockey(db) {
  const env = { BENCH_MYSQL_URL: db.url, SOCKEY_LOG_LEVEL: 'info' };
  return startServer(
    'sockey',
    [sockeyBin, 'serve', path.join(here, 'sockey.bench.yaml'), '--port', '0', '--host', '127.0.0.1', '--log', 'json'],
    env,
    (line, stream) => {
      if (stream !== 'stderr') return undefined;
      const m = /^sockey listening on http:\/\/[^\s]+:(\d+) \(/.exec(parseJson(line)?.msg ?? '');
      return m ? Number(m[1]) : undefined;
    },
    (line) => {
      const rec = parseJson(line);
      return !rec || typeof rec.level !== 'number' || rec.level >= 40; // warn and above, or not JSON
    },
  );
}

function startHandwritten(db) {
  return startServer(
    'hand-written',
    [path.join(here, 'handwritten.js'), '--port', '0', '--host', '127.0.0.1'],
    { BENCH_MYSQL_URL: db.url },
    (line, stream) => {
      const m = stream === 'stdout' ? /^listening on (\d+)$/.exec(line) : null;
      return m ? Number(m[1]) : undefined;
    },
    (_line, stream) => stream === 'stderr',
  );
}

/** CPU time (user + system, ms) a process has used so far; undefined off Linux. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** Busy and stolen CPU of the whole machine (ms, all cores); undefined off Linux. */
function machineCpuMs() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal. irq/softirq time (the loopback
    // network, mostly) is not charged to any process, so it is kept apart from busy.
    const ms = (n) => ((n ?? 0) * 1000) / CLK_TCK;
    return { busy: ms(f[0] + f[1] + f[2]), irq: ms(f[5] + f[6]), steal: ms(f[7]) };
  } catch {
    return undefined;
  }
}

/** CPU ms of every process on the machine by pid, with its name (for naming the "other" load). */
function allProcessesCpu() {
  const out = new Map();
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const fields = stat.slice(close + 2).split(' ');
        out.set(pid, { name: stat.slice(stat.indexOf('(') + 1, close), ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK });
      } catch {
        // gone
      }
    }
  } catch {
    // no /proc
  }
  return out;
}

/** The database server's pid when it runs on this machine (for the "other load" figure). */
function findDatabasePid() {
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        if (comm === 'mariadbd' || comm === 'mysqld') return Number(pid);
      } catch {
        // gone
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

/**
 * CPU counters at one instant: each server, this process (the load generator),
 * the database and the machine. Differences of two snapshots give, per round,
 * the CPU each part used and the "other" load: busy CPU none of them account for.
 */
function cpuSnapshot(servers) {
  const own = process.cpuUsage();
  return {
    at: process.hrtime.bigint(),
    servers: Object.fromEntries(servers.map((s) => [s.label, cpuMs(s.pid)])),
    client: (own.user + own.system) / 1000,
    db: dbPid ? cpuMs(dbPid) : undefined,
    machine: machineCpuMs(),
    processes: allProcessesCpu(),
  };
}

/** The processes other than ours that used the most CPU between two snapshots. */
function foreignTop(a, b, ours) {
  const used = new Map();
  for (const [pid, p] of b.processes) {
    if (ours.has(Number(pid))) continue;
    const ms = p.ms - (a.processes.get(pid)?.ms ?? 0);
    if (ms > 0) used.set(p.name, (used.get(p.name) ?? 0) + ms);
  }
  return [...used].sort((x, y) => y[1] - x[1]).slice(0, 3);
}

function cpuDelta(a, b, label) {
  const d = (x, y) => (x !== undefined && y !== undefined ? y - x : undefined);
  const server = d(a.servers[label], b.servers[label]);
  const serversAll = Object.keys(a.servers).reduce((sum, k) => (sum === undefined ? undefined : d(a.servers[k], b.servers[k]) === undefined ? undefined : sum + d(a.servers[k], b.servers[k])), 0);
  const client = b.client - a.client;
  const db = d(a.db, b.db);
  const busy = a.machine && b.machine ? b.machine.busy - a.machine.busy : undefined;
  const steal = a.machine && b.machine ? b.machine.steal - a.machine.steal : undefined;
  const irq = a.machine && b.machine ? b.machine.irq - a.machine.irq : undefined;
  const other = busy !== undefined && serversAll !== undefined && db !== undefined ? Math.max(0, busy - serversAll - client - db) : undefined;
  return { server, client, db, busy, irq, steal, other };
}

let dbPid;

/**
 * Before a round: while other processes use more than NOISY of a core (sampled
 * over 500 ms), wait, for at most opts.quietWaitS. Returns the last load seen.
 */
async function waitForQuiet(servers) {
  const deadline = Date.now() + opts.quietWaitS * 1000;
  let announced = false;
  for (;;) {
    const a = cpuSnapshot(servers);
    await new Promise((r) => setTimeout(r, 500));
    const b = cpuSnapshot(servers);
    const seconds = Number(b.at - a.at) / 1e9;
    const c = cpuDelta(a, b, servers[0].label);
    const load = c.other === undefined ? 0 : c.other / 1000 / seconds;
    if (load <= NOISY) return load;
    if (Date.now() >= deadline) {
      log(`    other processes still use ${fmt(100 * load)}% of a core: measuring anyway`);
      return load;
    }
    if (!announced) {
      const who = foreignTop(a, b, new Set([process.pid, dbPid, ...servers.map((x) => x.pid)])).map(([n, ms]) => `${n} ${fmt((100 * ms) / 1000 / seconds)}%`).join(', ');
      log(`    waiting up to ${opts.quietWaitS} s for other processes to settle (${fmt(100 * load)}% of a core: ${who})`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---------------------------------------------------------------- load

/** N sockets to one server, all connected, websocket only, one connection each. */
async function openSockets(port, n) {
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

/**
 * One round: every socket emits, waits for its ack, checks it and emits again
 * (a closed loop) for warmup + duration. Only requests that complete inside the
 * measured window count. Anything that is not a correct `{ ok: true }` envelope
 * is an error; requests still unanswered DRAIN_MS after the end time out.
 */
async function runRound(sockets, scenario, server, servers) {
  const warmupNs = BigInt(Math.round(opts.warmupS * 1e9));
  const durationNs = BigInt(Math.round(opts.durationS * 1e9));
  const latencies = []; // ms, measured window only
  const errors = new Map(); // code -> { count, example }
  let completed = 0;
  let stopped = false;
  let dead = false;
  let inFlight = 0;
  const t0 = process.hrtime.bigint();
  const measureFrom = t0 + warmupNs;
  const measureTo = measureFrom + durationNs;
  let snapFrom;

  const error = (code, example) => {
    const e = errors.get(code) ?? { count: 0, example };
    e.count++;
    errors.set(code, e);
  };
  const disconnected = new Set();
  const onDisconnect = (why) => disconnected.add(why);
  for (const s of sockets) s.on('disconnect', onDisconnect);

  const loop = (socket) =>
    new Promise((resolve) => {
      const next = () => {
        if (stopped || dead) return resolve();
        const payload = scenario.payload();
        const start = process.hrtime.bigint();
        inFlight++;
        socket.emit(scenario.event, payload, (envelope) => {
          inFlight--;
          if (dead) return resolve();
          const end = process.hrtime.bigint();
          const measured = end >= measureFrom && end <= measureTo;
          if (!envelope || envelope.ok !== true || envelope.err !== false) {
            error(envelope?.code ?? 'BAD_ENVELOPE', JSON.stringify(envelope)?.slice(0, 300));
          } else if (!scenario.check(payload, envelope.res)) {
            error('WRONG_RESULT', `${JSON.stringify(payload)} -> ${JSON.stringify(envelope.res)?.slice(0, 300)}`);
          } else if (measured) {
            completed++;
            latencies.push(Number(end - start) / 1e6);
          }
          next();
        });
      };
      next();
    });

  // Stop exactly at measureTo; read CPU counters at the window's edges.
  const marks = new Promise((resolve) => {
    setTimeout(() => {
      snapFrom = cpuSnapshot(servers);
      setTimeout(() => {
        stopped = true;
        resolve();
      }, opts.durationS * 1000);
    }, opts.warmupS * 1000);
  });
  const loops = Promise.all(sockets.map(loop));
  await marks;
  const snapTo = cpuSnapshot(servers);
  const end = snapTo.at;
  const drained = await Promise.race([loops.then(() => true), new Promise((r) => setTimeout(() => r(false), DRAIN_MS))]);
  if (!drained) {
    dead = true;
    error('TIMEOUT', `${inFlight} request(s) unanswered ${DRAIN_MS / 1000} s after the round ended`);
    for (let i = 1; i < inFlight; i++) error('TIMEOUT');
  }
  for (const s of sockets) s.off('disconnect', onDisconnect);
  for (const why of disconnected) error('DISCONNECTED', why);
  // Wall time of the measured window (timers fire a little late; completions are counted up to measureTo).
  const windowNs = (end < measureTo ? end : measureTo) - measureFrom;
  const seconds = Number(windowNs) / 1e9;
  return {
    server: server.label,
    throughput: completed / seconds,
    completed,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    latencies,
    cpu: cpuDelta(snapFrom, snapTo, server.label),
    foreign: foreignTop(snapFrom, snapTo, new Set([process.pid, dbPid, ...servers.map((s) => s.pid)])),
    errors: Object.fromEntries([...errors].map(([code, e]) => [code, e])),
    errorCount: [...errors.values()].reduce((a, e) => a + e.count, 0),
  };
}

function percentile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

// ---------------------------------------------------------------- main

const perMsg = (ms, n) => (ms === undefined || n === 0 ? undefined : (ms * 1000) / n);
const sum = (xs) => (xs.some((x) => x === undefined) ? undefined : xs.reduce((a, b) => a + b, 0));
const NOISY = 0.15; // other load above 15% of one core makes a round suspect

async function main() {
  const started = new Date();
  const cores = os.cpus().length;
  log(`sockey bench: ${opts.clients} clients, ${opts.rounds} round(s) x ${opts.durationS} s (+${opts.warmupS} s warm-up) per server, scenarios ${scenarioNames.join(', ')}`);
  log(`node ${process.version}, ${cores} core(s) ${os.cpus()[0]?.model ?? ''}: the load generator, both servers and MariaDB share them`);

  const db = await createDatabase();
  log(`created database ${db.name} with ${USERS} bench_users`);
  dbPid = findDatabasePid();

  const [sockey, hand] = await Promise.all([startSockey(db), startHandwritten(db)]);
  log(`sockey${process.env.BENCH_SOCKEY_BIN ? ` (${sockeyBin})` : ''} on 127.0.0.1:${sockey.port} (pid ${sockey.pid}), hand-written on 127.0.0.1:${hand.port} (pid ${hand.pid})${nodeArgs.length ? `, node ${nodeArgs.join(' ')}` : ''}`);

  const targets = [sockey, hand];
  const sockets = new Map();
  for (const t of targets) sockets.set(t.label, await openSockets(t.port, opts.clients));
  log(`${opts.clients} websocket clients connected to each server`);
  log('per round: throughput, latency, and CPU per message of the server, the load generator (client) and MariaDB (db);');
  log('"other" is user+system CPU on the machine that none of them used (other processes), in % of one core; irq is');
  log('the kernel\'s interrupt/softirq time (loopback networking), charged to no process');

  const results = {};
  let totalErrors = 0;
  const noisy = [];
  for (const name of scenarioNames) {
    const scenario = SCENARIOS[name];
    log(`\n== ${name}`);
    const rounds = { sockey: [], 'hand-written': [] };
    for (let r = 0; r < opts.rounds; r++) {
      for (const t of targets) {
        for (let attempt = 0; ; attempt++) {
          if (opts.quietWaitS > 0) await waitForQuiet(targets);
          const res = await runRound(sockets.get(t.label), scenario, t, targets);
          totalErrors += res.errorCount;
          const c = res.cpu;
          const pct = (ms) => (ms === undefined ? undefined : (100 * ms) / 1000 / res.seconds);
          const otherPct = pct(c.other);
          const isNoisy = otherPct !== undefined && otherPct > NOISY * 100;
          const retry = isNoisy && attempt < opts.retries;
          log(
            `  round ${r + 1} ${t.label.padEnd(12)} ${fmt(res.throughput).padStart(7)} msg/s  p50 ${fmt(res.p50, 2).padStart(5)} ms  p99 ${fmt(res.p99, 2).padStart(6)} ms` +
              `  us/msg: server ${fmt(perMsg(c.server, res.completed), 1)} client ${fmt(perMsg(c.client, res.completed), 1)} db ${fmt(perMsg(c.db, res.completed), 1)}` +
              `  other ${fmt(otherPct)}% irq ${fmt(pct(c.irq))}% steal ${fmt(pct(c.steal))}%${res.errorCount ? `  ERRORS ${res.errorCount}` : ''}${retry ? '  (noisy: repeated)' : ''}`,
          );
          for (const [code, e] of Object.entries(res.errors)) log(`    ${code} x${e.count}: ${e.example ?? ''}`);
          if (isNoisy) {
            const who = res.foreign.map(([n, ms]) => `${n} ${fmt(pct(ms))}%`).join(', ');
            noisy.push(`${name} round ${r + 1} ${t.label}${attempt ? ` (attempt ${attempt + 1})` : ''}: other load ${fmt(otherPct)}%${who ? ` (${who})` : ''}${retry ? ', repeated' : ', kept'}`);
          }
          if (!retry) {
            rounds[t.label].push(res);
            break;
          }
        }
      }
    }
    const summary = {};
    for (const t of targets) {
      const rs = rounds[t.label];
      const tps = rs.map((x) => x.throughput);
      const all = rs.flatMap((x) => x.latencies);
      const completed = rs.reduce((a, x) => a + x.completed, 0);
      summary[t.label] = {
        throughput: mean(tps),
        throughputRounds: tps.map((x) => Math.round(x)),
        spread: tps.length > 1 ? (Math.max(...tps) - Math.min(...tps)) / mean(tps) : 0,
        p50: percentile(all, 0.5),
        p99: percentile(all, 0.99),
        p50Rounds: rs.map((x) => +x.p50.toFixed(3)),
        p99Rounds: rs.map((x) => +x.p99.toFixed(3)),
        completed,
        cpuUsPerMsg: {
          server: perMsg(sum(rs.map((x) => x.cpu.server)), completed),
          client: perMsg(sum(rs.map((x) => x.cpu.client)), completed),
          db: perMsg(sum(rs.map((x) => x.cpu.db)), completed),
        },
        serverUsPerMsgRounds: rs.map((x) => (perMsg(x.cpu.server, x.completed) === undefined ? null : +perMsg(x.cpu.server, x.completed).toFixed(1))),
        otherLoadPctRounds: rs.map((x) => (x.cpu.other === undefined ? null : Math.round((100 * x.cpu.other) / 1000 / x.seconds))),
        errors: rs.reduce((a, x) => a + x.errorCount, 0),
        errorDetail: rs.map((x) => x.errors),
      };
    }
    const ratio = summary.sockey.throughput / summary['hand-written'].throughput;
    // Round i of sockey and round i of the hand-written server ran back to back: the
    // median of their ratios is less sensitive to load that comes and goes than the mean.
    const pairRatios = rounds.sockey.map((x, i) => x.throughput / rounds['hand-written'][i].throughput);
    const cpuRatio = summary.sockey.cpuUsPerMsg.server / summary['hand-written'].cpuUsPerMsg.server;
    const valid = Number.isFinite(ratio) && summary.sockey.errors === 0 && summary['hand-written'].errors === 0;
    results[name] = { ...summary, ratio: Number.isFinite(ratio) ? ratio : null, pairRatios: pairRatios.map((x) => (Number.isFinite(x) ? +x.toFixed(3) : null)), medianPairRatio: Number.isFinite(median(pairRatios)) ? median(pairRatios) : null, serverCpuRatio: Number.isFinite(cpuRatio) ? cpuRatio : null, bar: BARS[name], valid, meetsBar: valid && ratio >= BARS[name] };
  }

  for (const t of targets) for (const s of sockets.get(t.label)) s.disconnect();

  // ------------------------------------------------------------ report
  const out = [];
  out.push('');
  out.push(`sockey bench: ${opts.clients} clients, ${opts.rounds} x ${opts.durationS} s rounds per server (alternating, ${opts.warmupS} s warm-up discarded), ${cores} cores shared by client, servers and MariaDB`);
  out.push('');
  out.push('scenario  server          msg/s (mean)  per round                 p50 ms   p99 ms  server us/msg  errors');
  for (const name of scenarioNames) {
    for (const label of ['sockey', 'hand-written']) {
      const s = results[name][label];
      out.push(
        `${name.padEnd(9)} ${label.padEnd(14)} ${fmt(s.throughput).padStart(13)}  ${s.throughputRounds.join(' / ').padEnd(24)} ${fmt(s.p50, 2).padStart(7)}  ${fmt(s.p99, 2).padStart(7)}  ${fmt(s.cpuUsPerMsg.server, 1).padStart(13)}  ${String(s.errors).padStart(6)}`,
      );
    }
    const r = results[name];
    const pairs = `median of pairs ${fmt(r.medianPairRatio, 2)}x`;
    out.push(`${''.padEnd(9)} ${'sockey/hand'.padEnd(14)} ${(fmt(r.ratio, 3) + 'x').padStart(13)}  ${pairs.padEnd(24)}${''.padEnd(35)}${(r.serverCpuRatio ? fmt(r.serverCpuRatio, 3) + 'x' : '-').padStart(7)}`);
  }
  out.push('');
  for (const name of scenarioNames) {
    const r = results[name];
    const what = name === 'echo' ? 'echo (validate + reply, no database)' : 'user.get (primary-key SELECT on MariaDB)';
    out.push(`${!r.valid ? 'INVALID (errors)' : r.meetsBar ? 'PASS ' : 'BELOW'} ${what}: sockey ${fmt(r.ratio, 3)}x the hand-written throughput (bar ${r.bar}x; round pairs ${r.pairRatios.map((x) => fmt(x, 2)).join(' / ')})`);
  }
  const unstable = scenarioNames.flatMap((n) => targets.filter((t) => results[n][t.label].spread > 0.15).map((t) => `${n} ${t.label} ${fmt(100 * results[n][t.label].spread)}%`));
  if (unstable.length) out.push(`\nunstable: rounds differ by more than 15% of the mean (max-min): ${unstable.join(', ')}`);
  if (noisy.length) out.push(`noisy: other processes used more than ${NOISY * 100}% of a core during:\n  ${noisy.join('\n  ')}`);
  if (totalErrors) out.push(`\n${totalErrors} request(s) failed: these results are NOT valid (see the errors above)`);
  process.stdout.write(out.join('\n') + '\n');

  const json = {
    date: started.toISOString(),
    command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    sockeyBin: path.relative(root, sockeyBin),
    options: { durationS: opts.durationS, warmupS: opts.warmupS, rounds: opts.rounds, clients: opts.clients, retries: opts.retries, quietWaitS: opts.quietWaitS, scenarios: scenarioNames, nodeArgs },
    machine: { node: process.version, cores, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}` },
    results,
    errors: totalErrors,
    unstable,
    noisy,
    serverProblems: { sockey: { count: sockey.problemCount, first: sockey.problems }, 'hand-written': { count: hand.problemCount, first: hand.problems } },
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'latest.json'), JSON.stringify(json, null, 2) + '\n');
  log(`\nwrote bench/results/latest.json`);
  return totalErrors ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  (e) => void bail(1, e?.stack ?? String(e)),
);

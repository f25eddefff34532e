#!/usr/bin/env node
// The live-query benchmark (issue 12): sockey's live queries (bench/sockey.live.bench.yaml on
// MariaDB, bench/sockey.live.sqlite.bench.yaml on SQLite) against a hand-written server that
// keeps the same query live by Hasura-style multiplexed polling (bench/live-baseline.js),
// on both drivers, one after the other, in one invocation.
//
//   npm run bench:live                                   # build, then the defaults (~2 min)
//   node bench/live.js --duration 3 --warmup 1           # a smoke run
//   node bench/live.js --help
//
// Per server: --subscribers (1,000) socket.io-client sockets call cards.live for a board
// (boards 1..--boards, 10 subscribers each by default) and stay subscribed; after an idle
// spell (--idle s, no writes: what keeping them live costs by itself), one writer socket calls
// cards.add on a random board at --rate writes/s (open loop: on a fixed schedule, whatever
// the answers) for --warmup + --duration s, with a title unique to the write. Measured:
// from the writer's emit to each subscriber of that board receiving a cards.live_data push
// that contains the new row (all sockets in this process: one clock), the deliveries that
// never came (errors), SQL reads per write (live.stats.reruns of /_sockey/state.json),
// and the server's CPU from /proc. See bench/README.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { CONNECT_MS, fmt, here, log, openSockets, percentile, root, START_MS } from './common.js';
import { createDatabase } from './db.js';
import { cpuMs, findDatabasePid, machineCpuMs } from './proc.js';
import { listeningReady, serverStarter, stderrProblem } from './servers.js';

// ---------------------------------------------------------------- options

/** Issue 12's bars for sockey: write-to-update latency, SQL re-runs per write, server CPU per write against the polling baseline's per second. */
const BARS = { p50Ms: 5, p99Ms: 25, readsPerWrite: 1, cpuVsPolling: 0.1 };

const HELP = `Usage: node bench/live.js [options]     (npm run bench:live -- [options])

Live queries: sockey against a hand-written server that polls like Hasura, on SQLite and MariaDB.

Options:
  --duration S       measured seconds of writes per server (default 10)
  --warmup S         seconds of writes before that, not measured (default 2)
  --idle S           seconds with every subscriber connected and no writes, before the
                     writes: the CPU that keeping the queries live costs alone (default 3; 0 = none)
  --subscribers N    subscriber sockets per server (default 1000)
  --boards N         params sets: subscriber i watches board (i mod N) + 1 (default 100)
  --rate N           writes per second, open loop, each to a random board (default 100)
  --driver LIST      sqlite, mysql or sqlite,mysql (default sqlite,mysql)
  --cards N          cards per board before the writes (default 20)
  --poll-ms MS       the baseline's refetch interval (default 1000, Hasura's)
  --batch N          the baseline's cohorts per SQL statement (default 100, Hasura's)
  -h, --help         this help

BENCH_MYSQL_ROOT_URL  an account that may create databases (default mysql://root@127.0.0.1:3306)
BENCH_NODE_ARGS       extra node flags for the servers
BENCH_SOCKEY_BIN      another sockey build's bin/sockey.js to measure (default this checkout's)

Bars (sockey, per driver; printed as verdicts, never failing the run): write-to-update
p50 <= ${BARS.p50Ms} ms and p99 <= ${BARS.p99Ms} ms; SQL reads per write <= ${BARS.readsPerWrite} (a write re-runs only its board's
query); server CPU per write <= ${BARS.cpuVsPolling}x the polling baseline's server CPU per second.
Missed pushes (a subscriber that never got its board's new row) and failed writes are
errors: the run exits 1.
`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    idle: { type: 'string', default: '3' },
    subscribers: { type: 'string', default: '1000' },
    boards: { type: 'string', default: '100' },
    rate: { type: 'string', default: '100' },
    driver: { type: 'string', default: 'sqlite,mysql' },
    cards: { type: 'string', default: '20' },
    'poll-ms': { type: 'string', default: '1000' },
    batch: { type: 'string', default: '100' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
function option(name, check) {
  const n = Number(flags[name]);
  if (!check(n)) {
    process.stderr.write(`bench:live: --${name} ${flags[name]} is out of range\n\n${HELP}`);
    process.exit(2);
  }
  return n;
}
const int = (lo, hi) => (n) => Number.isInteger(n) && n >= lo && n <= hi;
const opts = {
  durationS: option('duration', (n) => n > 0 && n <= 600),
  warmupS: option('warmup', (n) => n >= 0 && n <= 60),
  idleS: option('idle', (n) => n >= 0 && n <= 60),
  subscribers: option('subscribers', int(1, 20_000)),
  boards: option('boards', int(1, 100_000)),
  rate: option('rate', (n) => n > 0 && n <= 5000),
  cards: option('cards', int(0, 1000)),
  pollMs: option('poll-ms', (n) => n >= 10 && n <= 60_000),
  batch: option('batch', int(1, 10_000)),
  rootUrl: process.env.BENCH_MYSQL_ROOT_URL ?? 'mysql://root@127.0.0.1:3306',
};
const DRIVERS = ['sqlite', 'mysql'];
const drivers = [
  ...new Set(
    flags.driver
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ),
];
if (drivers.length === 0 || !drivers.every((d) => DRIVERS.includes(d))) {
  process.stderr.write(`bench:live: --driver must be sqlite, mysql or sqlite,mysql; got "${flags.driver}"\n`);
  process.exit(2);
}
drivers.sort((a, b) => DRIVERS.indexOf(a) - DRIVERS.indexOf(b));

const ROLES = ['sockey', 'baseline'];
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const sockeyBin = path.resolve(process.env.BENCH_SOCKEY_BIN ?? path.join(root, 'bin/sockey.js'));
const SETUP_MS = 60_000; // subscribing every socket must finish within this
// After the last write: how long deliveries (and acks) may still take. The baseline
// delivers at its next poll, so it gets two poll intervals.
const DRAIN_MS = Math.max(3000, 2 * opts.pollMs + 1000);
const SOCKET_BATCH = 100; // sockets connected at once
const ELD_RESOLUTION_MS = 1; // the load generator's event-loop delay: sampled every 1 ms
const lag = (ns) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
const seedMax = opts.boards * opts.cards; // the largest card id before the writes

// ---------------------------------------------------------------- cleanup

const servers = new Set();
const children = serverStarter({
  cwd: root,
  nodeArgs,
  startMs: START_MS,
  log,
  registry: servers,
  onExit: (handle, how, tail) => {
    if (!cleaning) void bail(1, `${handle.label} exited unexpectedly (${how})\n${tail.join('\n')}`);
  },
});
const databases = []; // { name, drop() }
const sqliteFiles = [];
let cleaning;

function cleanup() {
  cleaning ??= (async () => {
    await children.stopAll();
    for (const db of databases) {
      try {
        await db.drop();
        log(`dropped database ${db.name}`);
      } catch (e) {
        log(`could not drop database ${db.name}: ${e.message}`);
      }
    }
    for (const file of sqliteFiles) {
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
      log(`removed ${file}`);
    }
  })();
  return cleaning;
}

async function bail(code, why) {
  if (why) process.stderr.write(`\nbench:live: ${why}\n`);
  const hard = setTimeout(() => process.exit(code), 10_000);
  hard.unref();
  await cleanup();
  process.exit(code);
}

process.on('SIGINT', () => void bail(130, 'interrupted'));
process.on('SIGTERM', () => void bail(143, 'terminated'));
process.on('uncaughtException', (e) => void bail(1, e.stack ?? String(e)));
process.on('unhandledRejection', (e) => void bail(1, e?.stack ?? String(e)));

// The whole run is bounded, with a generous margin.
const perPhaseMs = 2 * CONNECT_MS * Math.ceil((opts.subscribers + 1) / SOCKET_BATCH) + SETUP_MS + (opts.idleS + opts.warmupS + opts.durationS) * 1000 + DRAIN_MS + 10_000;
const budgetMs = drivers.length * (2 * perPhaseMs + 60_000) + START_MS + 60_000;
setTimeout(() => void bail(1, `the benchmark did not finish within ${Math.round(budgetMs / 1000)} s: aborted`), budgetMs).unref();

// ---------------------------------------------------------------- databases

/** [id, board_id, title] of the cards every phase starts from. */
function seedCards() {
  const rows = [];
  for (let board = 1; board <= opts.boards; board++) for (let k = 1; k <= opts.cards; k++) rows.push([(board - 1) * opts.cards + k, board, `board ${board} card ${k}`]);
  return rows;
}

async function createMysql() {
  const db = await createDatabase(opts.rootUrl, {
    prefix: 'sockey_bench_live',
    created: (d) => databases.push(d),
    schema: async (conn) => {
      await conn.query(`CREATE TABLE cards (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        board_id INT UNSIGNED NOT NULL,
        title VARCHAR(100) NOT NULL,
        KEY cards_board (board_id, id)
      ) ENGINE=InnoDB`);
      const cards = seedCards();
      for (let start = 0; start < cards.length; start += 1000) await conn.query('INSERT INTO cards (id, board_id, title) VALUES ?', [cards.slice(start, start + 1000)]);
    },
  });
  return db;
}

function createSqlite() {
  const file = path.join(os.tmpdir(), `sockey_bench_live_${randomBytes(5).toString('hex')}.db`);
  sqliteFiles.push(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE cards (id INTEGER NOT NULL PRIMARY KEY, board_id INTEGER NOT NULL, title TEXT NOT NULL)');
    db.exec('CREATE INDEX cards_board ON cards (board_id, id)');
    const insert = db.prepare('INSERT INTO cards (id, board_id, title) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (const card of seedCards()) insert.run(...card);
    })();
  } finally {
    db.close();
  }
  return file;
}

/** Back to the seed before a phase: the cards the previous phase added are deleted (outside sockey, with nobody subscribed). */
async function resetCards(backend) {
  if (backend.driver === 'sqlite') {
    const db = new Database(backend.file);
    try {
      db.pragma('busy_timeout = 5000');
      db.prepare('DELETE FROM cards WHERE id > ?').run(seedMax);
    } finally {
      db.close();
    }
    return;
  }
  const conn = await mysql.createConnection({ uri: backend.url, connectTimeout: 5000 });
  try {
    await conn.query('DELETE FROM cards WHERE id > ?', [seedMax]);
  } finally {
    await conn.end();
  }
}

// ---------------------------------------------------------------- servers

function startSockey(driver, env) {
  const manifest = driver === 'sqlite' ? 'sockey.live.sqlite.bench.yaml' : 'sockey.live.bench.yaml';
  return children.sockey(`sockey-${driver}`, sockeyBin, path.join(here, manifest), env);
}

function startBaseline(driver, env) {
  const args = [path.join(here, 'live-baseline.js'), '--port', '0', '--host', '127.0.0.1', '--poll-ms', String(opts.pollMs), '--batch', String(opts.batch)];
  return children.start(`baseline-${driver}`, driver === 'sqlite' ? [...args, '--sqlite'] : args, env, listeningReady, stderrProblem);
}

/** live.stats of a server's /_sockey/state.json: { subscriptions, groups, reruns, pushes } (the baseline adds statements, polls). */
async function liveStats(server) {
  const res = await fetch(`http://127.0.0.1:${server.port}/_sockey/state.json`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${server.label}: GET /_sockey/state.json answered ${res.status}`);
  const stats = (await res.json())?.live?.stats;
  if (!stats || typeof stats.reruns !== 'number') throw new Error(`${server.label}: /_sockey/state.json has no live.stats`);
  return stats;
}

/** Polls liveStats until `test(stats)` holds or `ms` pass; the last stats either way. */
async function statsWhen(server, test, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const stats = await liveStats(server);
    if (test(stats) || Date.now() >= deadline) return stats;
    await sleep(50);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dbPid;

/** CPU counters now: the server, this process (the load generator), MariaDB and the machine. */
function cpuSnapshot(server) {
  const own = process.cpuUsage();
  return { at: performance.now(), hr: process.hrtime.bigint(), server: cpuMs(server.pid), client: (own.user + own.system) / 1000, db: dbPid ? cpuMs(dbPid) : undefined, machine: machineCpuMs() };
}

function cpuDelta(a, b) {
  const d = (x, y) => (x !== undefined && y !== undefined ? y - x : undefined);
  const seconds = (b.at - a.at) / 1000;
  const server = d(a.server, b.server);
  const client = b.client - a.client;
  const db = d(a.db, b.db);
  const busy = a.machine && b.machine ? b.machine.busy - a.machine.busy : undefined;
  const irq = a.machine && b.machine ? b.machine.irq - a.machine.irq : undefined;
  // Busy CPU none of ours used: other processes (the other servers idle meanwhile).
  const other = busy !== undefined && server !== undefined ? Math.max(0, busy - server - client - (db ?? 0)) : undefined;
  const pct = (ms) => (ms === undefined ? undefined : ms / 10 / seconds); // % of one core
  return { seconds, server, client, db, clientPct: pct(client), otherPct: pct(other), irqPct: pct(irq) };
}

// ---------------------------------------------------------------- one phase

/**
 * One server: subscribe every socket, an idle spell, then the open-loop writes, the
 * drain, and the check that every subscriber of each written board saw its row.
 */
async function runPhase(backend, role, server) {
  const errors = new Map();
  const error = (code, example) => {
    const e = errors.get(code) ?? { count: 0, example };
    e.count++;
    errors.set(code, e);
  };
  await resetCards(backend);
  const tag = randomBytes(3).toString('hex');

  // Sockets: subscriber i watches board (i mod boards) + 1; one writer.
  const setupStart = performance.now();
  const subscribers = [];
  for (let i = 0; i < opts.subscribers; i += SOCKET_BATCH) subscribers.push(...(await openSockets(server.port, Math.min(SOCKET_BATCH, opts.subscribers - i))));
  const [writer] = await openSockets(server.port, 1);
  const sockets = [...subscribers, writer];
  let closing = false;
  for (const s of sockets) s.on('disconnect', (why) => closing || error('DISCONNECTED', why));
  const boardOf = (i) => (i % opts.boards) + 1;
  const watchers = Array.from({ length: opts.boards + 1 }, () => []); // board -> subscriber indexes
  subscribers.forEach((_, i) => watchers[boardOf(i)].push(i));
  const distinctBoards = watchers.filter((w) => w.length).length;

  // Writes whose row some subscriber has not seen yet, by board, then title.
  const waiting = Array.from({ length: opts.boards + 1 }, () => new Map());
  const records = [];
  const latencies = []; // ms, writes emitted in the measured window
  let window = { from: Infinity, to: Infinity };
  let pushes = 0;
  let pushesInWindow = 0;
  subscribers.forEach((socket, i) => {
    const board = boardOf(i);
    const mine = waiting[board];
    const prefix = `#${board}:`;
    socket.on('cards.live_data', (envelope) => {
      const now = performance.now();
      pushes++;
      if (now >= window.from && now < window.to) pushesInWindow++;
      if (envelope?.ok !== true || envelope.err !== false || !Array.isArray(envelope.res)) return error('BAD_PUSH', JSON.stringify(envelope)?.slice(0, 300));
      for (const row of envelope.res) {
        const title = row?.title;
        if (typeof title !== 'string') {
          error('BAD_ROW', JSON.stringify(row)?.slice(0, 300));
          continue;
        }
        if (title.charCodeAt(0) !== 35 /* # */) continue; // a seed card
        if (!title.startsWith(prefix)) {
          error('WRONG_BOARD', `a subscriber of board ${board} got the card "${title}"`);
          continue;
        }
        const rec = mine.get(title);
        if (rec?.waiting.delete(i)) {
          if (rec.measured) latencies.push(now - rec.emittedAt);
          if (rec.waiting.size === 0) mine.delete(title);
        }
      }
    });
    socket.on('cards.live_error', (envelope) => error(envelope?.code ?? 'LIVE_ERROR', JSON.stringify(envelope)?.slice(0, 300)));
  });

  // Subscribe: every reply must be the board's seed cards.
  await Promise.all(
    subscribers.map(async (socket, i) => {
      const board = boardOf(i);
      const r = await socket.timeout(SETUP_MS).emitWithAck('cards.live', { board });
      const rows = r?.res;
      const good =
        r?.ok === true &&
        Array.isArray(rows) &&
        rows.length === opts.cards &&
        rows.every((c, k) => c?.id === (board - 1) * opts.cards + k + 1 && c.title === `board ${board} card ${k + 1}` && Object.keys(c).length === 2);
      if (!good) throw new Error(`${server.label}: cards.live for board ${board} answered ${JSON.stringify(r)?.slice(0, 300)}, expected its ${opts.cards} seed cards`);
    }),
  );
  const subscribed = await statsWhen(server, (s) => s.subscriptions === opts.subscribers && s.groups === distinctBoards, 2000);
  if (subscribed.subscriptions !== opts.subscribers || subscribed.groups !== distinctBoards)
    error('STATS', `after ${opts.subscribers} subscribes to ${distinctBoards} boards the server counts ${subscribed.subscriptions} subscriptions in ${subscribed.groups} groups`);
  const setupS = (performance.now() - setupStart) / 1000;
  log(`  ${opts.subscribers} subscribers on ${distinctBoards} boards in ${fmt(setupS, 1)} s; the server counts ${subscribed.subscriptions} subscriptions, ${subscribed.groups} groups`);

  // Idle: everybody subscribed, nothing written.
  let idle;
  if (opts.idleS > 0) {
    const a = cpuSnapshot(server);
    const sa = await liveStats(server);
    const pushesBefore = pushes;
    await sleep(opts.idleS * 1000);
    const b = cpuSnapshot(server);
    const sb = await liveStats(server);
    const c = cpuDelta(a, b);
    idle = {
      seconds: c.seconds,
      serverMsPerS: c.server === undefined ? undefined : c.server / c.seconds,
      rerunsPerS: (sb.reruns - sa.reruns) / c.seconds,
      pushesReceived: pushes - pushesBefore,
      otherPct: c.otherPct,
    };
    if (idle.pushesReceived) error('IDLE_PUSH', `${idle.pushesReceived} pushes arrived while nothing was written`);
    log(`  idle ${fmt(c.seconds, 1)} s: server CPU ${fmt(idle.serverMsPerS, 1)} ms/s, ${fmt(idle.rerunsPerS, 1)} SQL reads/s, other load ${fmt(c.otherPct)}% of a core`);
  }

  // The writes: open loop on a fixed schedule, warm-up then the measured window.
  const interval = 1000 / opts.rate;
  const total = Math.max(1, Math.round((opts.warmupS + opts.durationS) * opts.rate));
  const statsBefore = await liveStats(server);
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  const start = performance.now() + 5;
  window = { from: start + opts.warmupS * 1000, to: start + (opts.warmupS + opts.durationS) * 1000 };
  let written = 0;
  let inWindow = 0;
  let inFlight = 0;
  let dead = false;
  const lateness = []; // ms behind schedule, measured window
  const ackLatencies = [];
  let snapFrom;
  let statsFrom;
  let snapTo;
  let statsTo;

  const emitWrite = (k, due) => {
    const board = 1 + Math.floor(Math.random() * opts.boards);
    const title = `#${board}:${k}:${tag}`;
    const emittedAt = performance.now();
    const measured = emittedAt >= window.from && emittedAt < window.to;
    if (measured) {
      inWindow++;
      lateness.push(emittedAt - due);
    }
    const rec = { title, board, emittedAt, measured, acked: false, expected: watchers[board].length, waiting: new Set(watchers[board]) };
    records.push(rec);
    if (rec.expected) waiting[board].set(title, rec);
    written++;
    inFlight++;
    writer.emit('cards.add', { board, title }, (envelope) => {
      inFlight--;
      if (dead) return;
      if (envelope?.ok !== true || envelope.err !== false || envelope.res?.affectedRows !== 1) {
        error(envelope?.code ?? 'WRITE_FAILED', JSON.stringify(envelope)?.slice(0, 300));
        waiting[board].delete(title);
        rec.waiting.clear();
        return;
      }
      rec.acked = true;
      if (measured) ackLatencies.push(performance.now() - emittedAt);
    });
  };
  const writing = new Promise((resolve) => {
    let k = 0;
    const tick = () => {
      const now = performance.now();
      for (; k < total && start + k * interval <= now; k++) emitWrite(k, start + k * interval);
      if (k < total) setTimeout(tick, Math.max(0, start + k * interval - performance.now()));
      else resolve();
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  const marks = (async () => {
    await sleep(Math.max(0, window.from - performance.now()));
    snapFrom = cpuSnapshot(server);
    eld.enable();
    statsFrom = await liveStats(server);
    await sleep(Math.max(0, window.to - performance.now()));
    snapTo = cpuSnapshot(server);
    eld.disable();
    statsTo = await liveStats(server);
  })();
  await Promise.all([writing, marks]);

  // Drain: until every acked write reached all its subscribers (or DRAIN_MS).
  const unresolved = () => waiting.reduce((n, m) => n + m.size, 0);
  const drainStart = performance.now();
  while ((inFlight > 0 || unresolved() > 0) && performance.now() - drainStart < DRAIN_MS) await sleep(20);
  const drainedMs = performance.now() - drainStart;
  const statsAfter = await liveStats(server);
  dead = true;
  if (inFlight) error('WRITE_UNANSWERED', `${inFlight} cards.add unanswered ${fmt(DRAIN_MS / 1000, 1)} s after the last write`);
  for (let i = 1; i < inFlight; i++) error('WRITE_UNANSWERED');
  let missed = 0;
  let missedMeasured = 0;
  let expected = 0;
  let missExample;
  for (const rec of records) {
    if (!rec.acked) continue;
    expected += rec.expected;
    if (!rec.waiting.size) continue;
    missed += rec.waiting.size;
    if (rec.measured) missedMeasured += rec.waiting.size;
    missExample ??= `the card "${rec.title}" (written ${fmt(performance.now() - rec.emittedAt)} ms before the check) never reached ${rec.waiting.size} of the ${rec.expected} subscribers of board ${rec.board}`;
  }
  if (missed) {
    const e = errors.get('MISSED') ?? { count: 0, example: missExample };
    e.count += missed;
    errors.set('MISSED', e);
  }

  // Leave: every subscription must end with its socket.
  closing = true;
  for (const s of sockets) s.disconnect();
  const after = await statsWhen(server, (s) => s.subscriptions === 0 && s.groups === 0, 3000);
  if (after.subscriptions !== 0 || after.groups !== 0) error('STATS', `after every socket left the server still counts ${after.subscriptions} subscriptions in ${after.groups} groups`);

  const c = cpuDelta(snapFrom, snapTo);
  const acked = records.filter((r) => r.acked).length;
  const perWrite = (ms) => (ms === undefined || inWindow === 0 ? undefined : ms / inWindow);
  const result = {
    driver: backend.driver,
    role,
    server: server.label,
    pid: server.pid,
    subscribers: opts.subscribers,
    boards: distinctBoards,
    setupS,
    writes: { total: written, acked, measured: inWindow, perS: inWindow / c.seconds },
    windowS: c.seconds,
    // The measured window on the monotonic clock in µs: the clock of --cpu-prof profiles (BENCH_NODE_ARGS).
    windowUs: [Number(snapFrom.hr / 1000n), Number(snapTo.hr / 1000n)],
    latencyMs: { count: latencies.length, p50: percentile(latencies, 0.5), p90: percentile(latencies, 0.9), p99: percentile(latencies, 0.99), max: latencies.length ? Math.max(...latencies) : NaN },
    ackMs: { p50: percentile(ackLatencies, 0.5), p99: percentile(ackLatencies, 0.99) },
    deliveries: { expected, missed, missedMeasured },
    drainedMs,
    pushesReceived: { total: pushes, perWrite: inWindow ? pushesInWindow / inWindow : NaN },
    serverPushesPerWrite: inWindow ? (statsTo.pushes - statsFrom.pushes) / inWindow : NaN,
    reads: {
      perWrite: inWindow ? (statsTo.reruns - statsFrom.reruns) / inWindow : NaN,
      perS: (statsTo.reruns - statsFrom.reruns) / c.seconds,
      // Every re-run from the first write to the end of the drain, over every acked write (exact for sockey, which does not poll).
      perWritePhase: acked ? (statsAfter.reruns - statsBefore.reruns) / acked : NaN,
      rerunsPhase: statsAfter.reruns - statsBefore.reruns,
      statementsPerWrite: statsTo.statements !== undefined && inWindow ? (statsTo.statements - statsFrom.statements) / inWindow : undefined,
    },
    cpu: {
      serverMsPerWrite: perWrite(c.server),
      serverMsPerS: c.server === undefined ? undefined : c.server / c.seconds,
      dbMsPerWrite: backend.driver === 'mysql' ? perWrite(c.db) : undefined,
      idleServerMsPerS: idle?.serverMsPerS,
      otherPct: c.otherPct,
      irqPct: c.irqPct,
    },
    load: {
      cpuPct: c.clientPct,
      // The histogram holds the sampling timer's whole period: its delay is what exceeds the resolution.
      loopDelayMs: { p50: lag(eld.percentile(50)), p99: lag(eld.percentile(99)), max: lag(eld.max) },
      behindScheduleMs: { p50: percentile(lateness, 0.5), p99: percentile(lateness, 0.99), max: lateness.length ? Math.max(...lateness) : NaN },
    },
    idle,
    errors: Object.fromEntries(errors),
    errorCount: [...errors.values()].reduce((a, e) => a + e.count, 0),
  };
  const r = result;
  log(
    `  ${fmt(r.writes.measured)} writes in ${fmt(r.windowS, 1)} s (${fmt(r.writes.perS, 1)}/s): write-to-update p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, max ${fmt(r.latencyMs.max, 1)} ms;` +
      ` missed ${fmt(missed)} of ${fmt(expected)} deliveries; cards.add acked p50 ${fmt(r.ackMs.p50, 2)} ms, p99 ${fmt(r.ackMs.p99, 2)} ms;` +
      ` ${fmt(r.reads.perWrite, 3)} SQL reads/write; server CPU ${fmt(r.cpu.serverMsPerWrite, 3)} ms/write, ${fmt(r.cpu.serverMsPerS, 1)} ms/s`,
  );
  log(
    `  load generator: ${fmt(r.load.cpuPct)}% of a core, event-loop delay p50 ${fmt(r.load.loopDelayMs.p50, 2)} / p99 ${fmt(r.load.loopDelayMs.p99, 2)} / max ${fmt(r.load.loopDelayMs.max, 1)} ms,` +
      ` writes behind schedule p99 ${fmt(r.load.behindScheduleMs.p99, 2)} ms; other load ${fmt(r.cpu.otherPct)}% of a core`,
  );
  for (const [code, e] of errors) log(`  ERROR ${code} x${e.count}${e.example ? `: ${e.example}` : ''}`);
  return result;
}

// ---------------------------------------------------------------- main

/** Whether the load generator may have slowed the figures: its own queueing shows up in every latency. */
function loadVerdict(r) {
  const why = [];
  if (r.load.loopDelayMs.p99 > 5) why.push(`event-loop delay p99 ${fmt(r.load.loopDelayMs.p99, 1)} ms`);
  if (r.load.cpuPct > 80) why.push(`${fmt(r.load.cpuPct)}% of a core`);
  if (r.load.behindScheduleMs.p99 > 5) why.push(`writes ${fmt(r.load.behindScheduleMs.p99, 1)} ms behind schedule at p99`);
  return why;
}

const verdict = (ok) => (ok ? 'PASS' : 'FAIL');

async function main() {
  const started = new Date();
  const cores = os.cpus().length;
  log(
    `sockey live-query bench: ${opts.subscribers} subscribers over ${Math.min(opts.boards, opts.subscribers)} boards, ${opts.rate} writes/s for ${opts.durationS} s (+${opts.warmupS} s warm-up, ${opts.idleS} s idle before), drivers ${drivers.join(', ')}`,
  );
  log(
    `node ${process.version}, ${cores} core(s) ${os.cpus()[0]?.model ?? ''}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}: the load generator, the servers and MariaDB share them`,
  );
  log(`baseline: multiplexed polling every ${opts.pollMs} ms, ${opts.batch} boards per SQL statement`);

  const backends = [];
  for (const driver of drivers) {
    if (driver === 'mysql') {
      let db;
      try {
        db = await createMysql();
      } catch (e) {
        throw new Error(`cannot create a MariaDB database through ${new URL(opts.rootUrl).host} (${e.message}): start MariaDB, set BENCH_MYSQL_ROOT_URL, or run --driver sqlite`, { cause: e });
      }
      log(`created database ${db.name} with ${opts.boards} boards of ${opts.cards} cards`);
      backends.push({ driver, url: db.url, env: { BENCH_MYSQL_URL: db.url } });
    } else {
      const file = createSqlite();
      log(`created ${file} with ${opts.boards} boards of ${opts.cards} cards`);
      backends.push({ driver, file, env: { BENCH_SQLITE_FILE: file } });
    }
  }
  await Promise.all(
    backends.map(async (b) => {
      [b.sockey, b.baseline] = await Promise.all([startSockey(b.driver, b.env), startBaseline(b.driver, b.env)]);
    }),
  );
  dbPid = findDatabasePid();
  for (const b of backends) for (const role of ROLES) log(`${b[role].label.padEnd(16)} on 127.0.0.1:${b[role].port} (pid ${b[role].pid})`);
  if (process.env.BENCH_SOCKEY_BIN) log(`sockey is ${sockeyBin}`);

  const results = [];
  for (const b of backends) {
    for (const role of ROLES) {
      log(`\n== ${b.driver} ${role} (${b[role].label})`);
      results.push(await runPhase(b, role, b[role]));
    }
  }

  // ------------------------------------------------------------ report
  const out = [];
  const head = `${opts.subscribers} subscribers, ${Math.min(opts.boards, opts.subscribers)} boards, ${opts.rate} writes/s, ${opts.durationS} s measured (+${opts.warmupS} s warm-up), baseline polling every ${opts.pollMs} ms`;
  out.push('', `live-query bench: ${head}; ${cores} cores shared by the load generator, the servers and MariaDB`, '');
  const cols = [
    ['driver', 6, (r) => r.driver],
    ['server', 8, (r) => r.role],
    ['writes/s', 8, (r) => fmt(r.writes.perS, 1)],
    ['p50 ms', 8, (r) => fmt(r.latencyMs.p50, 2)],
    ['p99 ms', 8, (r) => fmt(r.latencyMs.p99, 2)],
    ['max ms', 8, (r) => fmt(r.latencyMs.max, 1)],
    ['missed', 6, (r) => fmt(r.deliveries.missed)],
    ['pushes/write', 12, (r) => fmt(r.pushesReceived.perWrite, 2)],
    ['reads/write', 11, (r) => fmt(r.reads.perWrite, 3)],
    ['stmts/write', 11, (r) => fmt(r.reads.statementsPerWrite ?? r.reads.perWrite, 3)],
    ['CPU ms/write', 12, (r) => fmt(r.cpu.serverMsPerWrite, 3)],
    ['CPU ms/s', 8, (r) => fmt(r.cpu.serverMsPerS, 1)],
    ['idle ms/s', 9, (r) => fmt(r.cpu.idleServerMsPerS, 1)],
    ['db ms/write', 11, (r) => fmt(r.cpu.dbMsPerWrite, 3)],
    ['load CPU%', 9, (r) => fmt(r.load.cpuPct)],
    ['loop p99', 8, (r) => fmt(r.load.loopDelayMs.p99, 2)],
    ['other%', 6, (r) => fmt(r.cpu.otherPct)],
  ];
  out.push(cols.map(([h, w], i) => (i < 2 ? h.padEnd(w) : h.padStart(w))).join('  '));
  for (const r of results) out.push(cols.map(([, w, f], i) => (i < 2 ? String(f(r)).padEnd(w) : String(f(r)).padStart(w))).join('  '));
  out.push('');
  out.push('write-to-update: from the writer emitting cards.add to each subscriber of that board getting the push with the new row (measured window);');
  out.push('reads/write: SQL re-runs (live.stats.reruns) per write in the window (baseline: boards re-read by its polls); stmts/write: SQL statements;');
  out.push('CPU: the server process (user + system, /proc); idle: CPU per second with everybody subscribed and nothing written; db: mariadbd;');
  out.push('load CPU% and loop p99: the load generator (this process: every socket) and its event-loop delay in ms; other%: CPU of other processes.');
  out.push('');

  const verdicts = [];
  let totalErrors = 0;
  for (const b of backends) {
    const s = results.find((r) => r.driver === b.driver && r.role === 'sockey');
    const base = results.find((r) => r.driver === b.driver && r.role === 'baseline');
    const cpuRatio = s.cpu.serverMsPerWrite !== undefined && base.cpu.serverMsPerS ? s.cpu.serverMsPerWrite / base.cpu.serverMsPerS : NaN;
    const idleRatio = s.cpu.serverMsPerWrite !== undefined && base.cpu.idleServerMsPerS ? s.cpu.serverMsPerWrite / base.cpu.idleServerMsPerS : NaN;
    const readsForBar = s.reads.perWritePhase;
    const checks = {
      p50: { value: s.latencyMs.p50, bar: BARS.p50Ms, pass: s.latencyMs.p50 <= BARS.p50Ms },
      p99: { value: s.latencyMs.p99, bar: BARS.p99Ms, pass: s.latencyMs.p99 <= BARS.p99Ms },
      readsPerWrite: { value: readsForBar, bar: BARS.readsPerWrite, pass: readsForBar <= BARS.readsPerWrite + 1e-9 },
      cpuVsPolling: { value: cpuRatio, bar: BARS.cpuVsPolling, pass: cpuRatio <= BARS.cpuVsPolling },
    };
    const errors = s.errorCount + base.errorCount;
    totalErrors += errors;
    const lines = [
      `${b.driver} sockey: write-to-update p50 ${fmt(s.latencyMs.p50, 2)} ms (bar <= ${BARS.p50Ms} ms): ${verdict(checks.p50.pass)}; p99 ${fmt(s.latencyMs.p99, 2)} ms (bar <= ${BARS.p99Ms} ms): ${verdict(checks.p99.pass)}`,
      `${' '.repeat(b.driver.length)} SQL reads per write ${fmt(readsForBar, 3)} (${fmt(s.reads.rerunsPhase)} re-runs for ${fmt(s.writes.acked)} writes, warm-up and drain included; ${fmt(s.reads.perWrite, 3)} in the window) (bar <= ${BARS.readsPerWrite}): ${verdict(checks.readsPerWrite.pass)}`,
      `${' '.repeat(b.driver.length)} server CPU per write ${fmt(s.cpu.serverMsPerWrite, 3)} ms vs the polling baseline's ${fmt(base.cpu.serverMsPerS, 1)} ms per second under the same writes: ${fmt(cpuRatio, 4)}x (bar <= ${BARS.cpuVsPolling}x): ${verdict(checks.cpuVsPolling.pass)}` +
        (Number.isFinite(idleRatio) ? `; its polling alone (idle, no writes) ${fmt(base.cpu.idleServerMsPerS, 1)} ms/s: ${fmt(idleRatio, 3)}x` : ''),
      `${' '.repeat(b.driver.length)} the baseline: p50 ${fmt(base.latencyMs.p50, 1)} ms, p99 ${fmt(base.latencyMs.p99, 1)} ms, ${fmt(base.reads.perS, 1)} board reads/s in ${fmt(base.reads.statementsPerWrite !== undefined ? base.reads.statementsPerWrite * base.writes.perS : NaN, 1)} statements/s (${fmt(base.reads.perWrite, 3)} reads per write)`,
    ];
    if (errors) lines.push(`${' '.repeat(b.driver.length)} ${errors} error(s) (see above): these results are NOT valid`);
    for (const r of [s, base]) {
      const why = loadVerdict(r);
      if (why.length) lines.push(`${' '.repeat(b.driver.length)} note: during ${r.role} the load generator was busy (${why.join(', ')}): its own queueing is in those latencies`);
    }
    out.push(...lines);
    verdicts.push({ driver: b.driver, checks, cpuRatioIdle: idleRatio, errors, valid: errors === 0 });
  }
  if (totalErrors) out.push(`\n${totalErrors} error(s): missed pushes, failed writes or wrong counts (see above); the run exits 1`);

  const command = `node bench/live.js ${process.argv.slice(2).join(' ')}`.trim();
  const md = [
    `${started.toISOString().slice(0, 10)}, \`${command}\`: ${head}.`,
    '',
    '| driver | server | writes/s | write-to-update p50 ms | p99 ms | max ms | missed | SQL reads/write | server CPU ms/write | server CPU ms/s | idle ms/s | load-generator loop p99 ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.driver} | ${r.role} | ${fmt(r.writes.perS, 1)} | ${fmt(r.latencyMs.p50, 2)} | ${fmt(r.latencyMs.p99, 2)} | ${fmt(r.latencyMs.max, 1)} | ${fmt(r.deliveries.missed)} | ${fmt(r.reads.perWrite, 3)} | ${fmt(r.cpu.serverMsPerWrite, 3)} | ${fmt(r.cpu.serverMsPerS, 1)} | ${fmt(r.cpu.idleServerMsPerS, 1)} | ${fmt(r.load.loopDelayMs.p99, 2)} |`,
    ),
  ].join('\n');
  out.push('\nMarkdown (also in bench/results/live.md):\n', md);
  process.stdout.write(out.join('\n') + '\n');

  const json = {
    date: started.toISOString(),
    command,
    sockeyBin: path.relative(root, sockeyBin),
    options: { ...opts, rootUrl: undefined, drivers, nodeArgs },
    bars: BARS,
    machine: { node: process.version, cores, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}`, loadavgAtStart: os.loadavg() },
    results,
    verdicts,
    errors: totalErrors,
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'live.json'), JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  writeFileSync(path.join(here, 'results', 'live.md'), md + '\n');
  log('\nwrote bench/results/live.json and bench/results/live.md');
  return totalErrors ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  (e) => void bail(1, e?.stack ?? String(e)),
);

#!/usr/bin/env node
// sockey throughput/latency benchmark: sockey (bench/sockey.bench.yaml, and
// bench/sockey.sqlite.bench.yaml for sqlite.get) against the same events written by
// hand with socket.io + mysql2 / better-sqlite3 + ajv (bench/handwritten.js), scenario
// by scenario, in alternating rounds.
//
//   npm run bench                         # build, then the defaults below
//   node bench/run.js --duration 2 --rounds 1 --scenario echo
//
// Everything is on 127.0.0.1. A random MariaDB database and a temp SQLite file are
// created for the run and removed at the end (also on error, Ctrl-C and the overall
// time limit). See bench/README.md.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { fmt, mean, median, openSockets, percentile } from './common.js';
import { BOARDS, CARDS_PER_BOARD, createMariaDb, createSqliteFile, randomUser, removeSqliteFile, USERS, userRow } from './db.js';
import { allProcessesCpu, cpuMs, findDatabasePid, machineCpuMs } from './proc.js';
import { serverStarter } from './servers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

// ---------------------------------------------------------------- scenarios

const LISTENERS = 50; // room.emit50: sockets in room r besides the load clients
const PASSWORD = 'bench-pa55!word';
// guarded: boards 1..BOARDS with CARDS_PER_BOARD cards each (bench/db.js); every signed-in
// user is a member of boards 1..MEMBER_BOARDS, nobody of the others.
const MEMBER_BOARDS = 500;
const CARDS_SHOWN = 10; // the route's LIMIT
const FORBIDDEN_BOARD = BOARDS; // cards, no members: the guard must refuse it
const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const sameText = (p, res) => isObject(res) && res.text === p.text && Object.keys(res).length === 1;
const randomMemberBoard = () => 1 + Math.floor(Math.random() * MEMBER_BOARDS);
/** The first CARDS_SHOWN cards of the board, by id: exactly { id, title } each. */
const boardCards = (p, res) => {
  if (!Array.isArray(res) || res.length !== CARDS_SHOWN) return false;
  for (let j = 0; j < CARDS_SHOWN; j++) {
    const c = res[j];
    if (!isObject(c) || c.id !== (p.board - 1) * CARDS_PER_BOARD + j + 1 || c.title !== `board ${p.board} card ${j + 1}` || Object.keys(c).length !== 2) return false;
  }
  return true;
};

/**
 * Each scenario: the event the load clients emit, a payload per request, a check of
 * every reply's `res`, which pair of servers serves it (`mysql`: bench/sockey.bench.yaml
 * and handwritten.js; `sqlite`: the SQLite pair), and optional steps that run once per
 * server before the rounds (`setup`), after every round (`afterRound`, returns errors)
 * and after the scenario (`teardown`), and a check over both servers' replies
 * (`afterScenario`, returns errors). Bars: sockey's throughput at least `bar` times the
 * hand-written server's, its server CPU per message at most CPU_BAR times.
 */
const SCENARIOS = {
  echo: {
    what: 'validated params, reply, no database',
    bar: 1.0,
    event: 'echo',
    payload: () => ({ text: 'hello world' }),
    check: sameText,
  },
  'user.get': {
    what: 'primary-key SELECT on MariaDB',
    bar: 1.0,
    event: 'user.get',
    payload: () => ({ id: randomUser() }),
    check: userRow,
  },
  'auth.required': {
    what: 'auth: required route replying {{auth.id}}, {{auth.name}}; clients signed in beforehand',
    bar: 0.95,
    event: 'whoami',
    setup: signIn,
    payload: () => ({}),
    check: (_p, res, i, st) => isObject(res) && res.id === st.users[i].id && res.name === st.users[i].name && Object.keys(res).length === 2,
  },
  'room.emit50': {
    what: `emit to a room of ${LISTENERS} listener sockets, then the ack (acks/s)`,
    bar: 0.95,
    event: 'room.send',
    setup: joinListeners,
    afterRound: checkFanout,
    teardown: closeListeners,
    payload: () => ({ text: 'hello room' }),
    check: sameText,
  },
  hook: {
    what: 'TypeScript hook { sum: a + b } over validated params',
    bar: 0.95,
    event: 'sum',
    payload: () => ({ a: Math.floor(Math.random() * 1000), b: Math.floor(Math.random() * 1000) }),
    check: (p, res) => isObject(res) && res.sum === p.a + p.b && Object.keys(res).length === 1,
  },
  insert: {
    what: 'INSERT on MariaDB, result affected',
    bar: 0.95,
    event: 'events.insert',
    payload: () => ({ id: randomUser(), body: 'something happened' }),
    check: (_p, res) => isObject(res) && res.affectedRows === 1 && Number.isInteger(res.insertId) && res.insertId > 0,
    afterScenario: countInserts,
  },
  'sqlite.get': {
    what: 'primary-key SELECT on SQLite (better-sqlite3)',
    bar: 0.95,
    backend: 'sqlite',
    event: 'user.get',
    payload: () => ({ id: randomUser() }),
    check: userRow,
  },
  guarded: {
    what: 'auth: required, guard: SELECT 1 FROM members ..., then SELECT 10 cards, on MariaDB; clients signed in beforehand',
    bar: 0.95,
    event: 'board.cards',
    setup: signInAndJoinBoards,
    payload: () => ({ board: randomMemberBoard() }),
    check: boardCards,
  },
  'guarded.sqlite': {
    what: 'the guarded route on SQLite (better-sqlite3); clients signed in beforehand',
    bar: 0.95,
    backend: 'sqlite',
    event: 'board.cards',
    setup: signInAndJoinBoards,
    payload: () => ({ board: randomMemberBoard() }),
    check: boardCards,
  },
};
const CPU_BAR = 1.05;

// ---------------------------------------------------------------- options

const HELP = `Usage: node bench/run.js [options]     (npm run bench -- [options])

Options (each also from the environment variable in brackets):
  --duration S    measured seconds per round (default 3)            [BENCH_DURATION]
  --warmup S      discarded seconds at the start of a round (default 1) [BENCH_WARMUP]
  --rounds N      rounds per server and scenario (default 3)        [BENCH_ROUNDS]
  --clients N     socket.io-client sockets, each a closed loop (default 32) [BENCH_CLIENTS]
  --scenario X    ${Object.keys(SCENARIOS).join(' | ')} | all,
                  or a comma-separated list (default all)           [BENCH_SCENARIO]
  --retries N     repeat a round up to N times while other processes use more than
                  15% of a core during it (default 2; the last attempt is kept) [BENCH_RETRIES]
  --quiet-wait S  before a round, wait up to S seconds while other processes use more
                  than 15% of a core (default 20; 0 = never wait)    [BENCH_QUIET_WAIT]
  -h, --help      this help

BENCH_MYSQL_ROOT_URL  an account that may create databases (default mysql://root@127.0.0.1:3306)
BENCH_NODE_ARGS       extra node flags for all servers (e.g. "--cpu-prof --cpu-prof-dir=bench/results/prof")
BENCH_SOCKEY_BIN      another sockey build's bin/sockey.js to measure (default this checkout's)
BENCH_HAND_TRACE=0    the hand-written mysql2 pool without its per-query stack capture (trace: false, as sockey's)
BENCH_SOCKEY_METRICS=1  sockey with server.metrics: true (a copy of its manifest, removed at the end)
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
  durationS: option('duration', 'BENCH_DURATION', '3', (n) => n > 0 && n <= 300),
  warmupS: option('warmup', 'BENCH_WARMUP', '1', (n) => n >= 0 && n <= 60),
  rounds: option('rounds', 'BENCH_ROUNDS', '3', (n) => Number.isInteger(n) && n >= 1 && n <= 50),
  clients: option('clients', 'BENCH_CLIENTS', '32', (n) => Number.isInteger(n) && n >= 1 && n <= 1000),
  retries: option('retries', 'BENCH_RETRIES', '2', (n) => Number.isInteger(n) && n >= 0 && n <= 5),
  quietWaitS: option('quiet-wait', 'BENCH_QUIET_WAIT', '20', (n) => n >= 0 && n <= 300),
  scenario: flags.scenario ?? process.env.BENCH_SCENARIO ?? 'all',
  rootUrl: process.env.BENCH_MYSQL_ROOT_URL ?? 'mysql://root@127.0.0.1:3306',
};

const scenarioNames =
  opts.scenario === 'all'
    ? Object.keys(SCENARIOS)
    : [
        ...new Set(
          opts.scenario
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ];
if (scenarioNames.length === 0 || !scenarioNames.every((s) => s in SCENARIOS)) {
  process.stderr.write(`bench: --scenario must be ${Object.keys(SCENARIOS).join(', ')}, all, or a comma-separated list; got "${opts.scenario}"\n`);
  process.exit(2);
}
const needs = { sqlite: scenarioNames.some((n) => SCENARIOS[n].backend === 'sqlite'), mysql: scenarioNames.some((n) => SCENARIOS[n].backend !== 'sqlite') };

// Extra node flags for the server children, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/results/prof".
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

// Another sockey build to measure (e.g. a patched copy): the path of its bin/sockey.js.
const sockeyBin = path.resolve(process.env.BENCH_SOCKEY_BIN ?? path.join(root, 'bin/sockey.js'));

const DRAIN_MS = 5_000; // after a round: how long in-flight requests (and room deliveries) may still take
const START_MS = 20_000; // a server must listen within this
const CONNECT_MS = 10_000; // all sockets must connect within this
const SETUP_MS = 30_000; // a scenario's setup (sign-ins, listeners joining) must finish within this

// ---------------------------------------------------------------- cleanup

const children = new Set();
let database; // { name, drop() }
let sqliteFile; // the temp SQLite file, removed at the end
const manifestCopies = new Set(); // BENCH_SOCKEY_METRICS: the manifests with metrics on, removed at the end
let cleaning;

function cleanup() {
  cleaning ??= (async () => {
    await starter.stopAll();
    if (database) {
      try {
        await database.drop();
        log(`dropped database ${database.name}`);
      } catch (e) {
        log(`could not drop database ${database.name}: ${e.message}`);
      }
    }
    if (sqliteFile) {
      removeSqliteFile(sqliteFile);
      log(`removed ${sqliteFile}`);
    }
    for (const file of manifestCopies) rmSync(file, { force: true });
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

// The whole run is bounded: rounds, connects, setups, drains and startup with a generous margin.
const perRound = opts.warmupS * 1000 + opts.durationS * 1000 + DRAIN_MS + 1000;
const budgetMs =
  2 * (scenarioNames.length * 2 * opts.rounds * (1 + opts.retries) * (perRound + opts.quietWaitS * 1000 + 1000)) +
  scenarioNames.length * 2 * (SETUP_MS + CONNECT_MS) +
  2 * START_MS +
  4 * CONNECT_MS +
  60_000;
setTimeout(() => void bail(1, `the benchmark did not finish within ${Math.round(budgetMs / 1000)} s: aborted`), budgetMs).unref();

function log(line) {
  process.stdout.write(line + '\n');
}
// ---------------------------------------------------------------- database

/** The MariaDB database of the run (bench/db.js), dropped by cleanup(). */
const createDatabase = () => createMariaDb(opts.rootUrl, (db) => (database = db));
/** The SQLite file of sqlite.get and guarded.sqlite (bench/db.js), removed by cleanup(). */
const createSqlite = () => createSqliteFile((file) => (sqliteFile = file));

// ---------------------------------------------------------------- servers

const starter = serverStarter({
  cwd: root,
  nodeArgs,
  startMs: START_MS,
  log,
  registry: children,
  onExit: (handle, how, tail) => {
    if (!cleaning) void bail(1, `${handle.label} exited unexpectedly (${how})\n${tail.join('\n')}`);
  },
});
const startSockey = (label, manifest, env) => starter.sockey(label, sockeyBin, path.join(here, process.env.BENCH_SOCKEY_METRICS === '1' ? withMetrics(manifest) : manifest), env);

/** A copy of a bench manifest (beside it: its relative paths hold) with `server.metrics: true`. */
function withMetrics(manifest) {
  const text = readFileSync(path.join(here, manifest), 'utf8');
  if (!/^server:\n/m.test(text)) throw new Error(`${manifest} has no server: section to turn metrics on in`);
  const copy = `.${manifest.replace(/\.yaml$/, '')}.metrics.yaml`;
  manifestCopies.add(path.join(here, copy));
  writeFileSync(path.join(here, copy), text.replace(/^server:\n/m, 'server:\n  metrics: true\n'));
  return copy;
}
const startHandwritten = (label, args, env) => starter.handwritten(label, args, env);

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
      const who = foreignTop(a, b, new Set([process.pid, dbPid, ...servers.map((x) => x.pid)]))
        .map(([n, ms]) => `${n} ${fmt((100 * ms) / 1000 / seconds)}%`)
        .join(', ');
      log(`    waiting up to ${opts.quietWaitS} s for other processes to settle (${fmt(100 * load)}% of a core: ${who})`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---------------------------------------------------------------- load

/** One emit with an ack, for setup steps (not measured). */
function request(socket, event, payload) {
  return socket.timeout(SETUP_MS).emitWithAck(event, payload);
}

/** Rejects when `promise` takes longer than `ms`. */
function within(ms, what, promise) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * auth.required setup: every load socket signs up (the built-in `auth` event, or the
 * hand-written server's), which signs it in, then asks `whoami` once for its user id.
 */
async function signIn(st) {
  // Sessions live as long as the sockets: a second scenario that needs them (guarded after auth.required) reuses them.
  const known = signedIn.get(st.server.label);
  if (known) {
    st.users = known;
    return;
  }
  st.users = await Promise.all(
    st.sockets.map(async (socket, i) => {
      const name = `bench${i + 1}`;
      const reg = await request(socket, 'auth', { type: 'register', user: { name, password: PASSWORD } });
      if (reg?.ok !== true || reg.res?.name !== name || typeof reg.res?.token !== 'string') throw new Error(`${st.server.label}: register ${name} failed: ${JSON.stringify(reg)}`);
      const me = await request(socket, 'whoami', {});
      if (me?.ok !== true || me.res?.name !== name || !Number.isInteger(me.res?.id)) throw new Error(`${st.server.label}: whoami after register ${name} failed: ${JSON.stringify(me)}`);
      return { id: me.res.id, name };
    }),
  );
  if (new Set(st.users.map((u) => u.id)).size !== st.users.length) throw new Error(`${st.server.label}: signed-in sockets share user ids`);
  signedIn.set(st.server.label, st.users);
}
const signedIn = new Map(); // server label -> the users its load sockets are signed in as

/**
 * guarded setup: the load sockets sign in (as for auth.required), their users become
 * members of boards 1..MEMBER_BOARDS (both servers' users in the same members table;
 * their ids may coincide, hence INSERT IGNORE), and each server must answer FORBIDDEN
 * for a board with cards but without them, and the cards of a board with them.
 */
async function signInAndJoinBoards(st) {
  await signIn(st);
  const rows = st.users.flatMap((u) => Array.from({ length: MEMBER_BOARDS }, (_, b) => [b + 1, u.id]));
  if (st.server.label.includes('sqlite')) {
    const db = new Database(sqliteFile);
    try {
      db.pragma('busy_timeout = 5000');
      const insert = db.prepare('INSERT OR IGNORE INTO members (board_id, user_id) VALUES (?, ?)');
      db.transaction(() => {
        for (const r of rows) insert.run(...r);
      })();
    } finally {
      db.close();
    }
  } else {
    const conn = await mysql.createConnection({ uri: dbUrl, connectTimeout: 5000 });
    try {
      for (let start = 0; start < rows.length; start += 1000) await conn.query('INSERT IGNORE INTO members (board_id, user_id) VALUES ?', [rows.slice(start, start + 1000)]);
    } finally {
      await conn.end();
    }
  }
  const no = await request(st.sockets[0], 'board.cards', { board: FORBIDDEN_BOARD });
  if (JSON.stringify(no) !== JSON.stringify({ ok: false, err: 'Forbidden.', res: false, code: 'FORBIDDEN' }))
    throw new Error(`${st.server.label}: board.cards of a board without members answered ${JSON.stringify(no)?.slice(0, 300)}, expected FORBIDDEN`);
  const yes = await request(st.sockets[0], 'board.cards', { board: 1 });
  if (yes?.ok !== true || !boardCards({ board: 1 }, yes.res)) throw new Error(`${st.server.label}: board.cards of a member board answered ${JSON.stringify(yes)?.slice(0, 300)}`);
}

/**
 * room.emit50 setup: LISTENERS more sockets (real clients: they parse and check
 * every message they get) join room r through the `room.join` event.
 */
async function joinListeners(st) {
  const sockets = await openSockets(st.server.port, LISTENERS);
  st.listeners = sockets.map((socket) => {
    const l = { socket, count: 0, bad: 0, badExample: undefined, seen: 0 };
    socket.on('room.send_data', (envelope) => {
      if (envelope?.ok === true && envelope.err === false && envelope.res?.text === 'hello room') l.count++;
      else {
        l.bad++;
        l.badExample ??= JSON.stringify(envelope)?.slice(0, 300);
      }
    });
    return l;
  });
  await Promise.all(
    st.listeners.map(async (l) => {
      const r = await request(l.socket, 'room.join', {});
      if (r?.ok !== true || r.res?.joined !== 'r') throw new Error(`${st.server.label}: room.join failed: ${JSON.stringify(r)}`);
    }),
  );
}

/**
 * After a room.emit50 round: every listener must get one room.send_data per
 * successful room.send of the round, no more, no less (it waits for stragglers).
 */
async function checkFanout(st, round) {
  const expected = round.okTotal;
  const got = () => st.listeners.map((l) => l.count - l.seen);
  const deadline = Date.now() + DRAIN_MS;
  while (got().some((n) => n < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 50)); // any surplus would show up now
  const counts = got();
  const errors = [];
  const wrong = counts.filter((n) => n !== expected).length;
  if (wrong) errors.push(['FANOUT', `${wrong} of ${counts.length} listeners got ${Math.min(...counts)}..${Math.max(...counts)} messages, expected ${expected}`]);
  const bad = st.listeners.reduce((a, l) => a + l.bad, 0);
  if (bad) errors.push(['FANOUT_BAD', `${bad} malformed room messages, e.g. ${st.listeners.find((l) => l.badExample)?.badExample}`]);
  for (const l of st.listeners) {
    l.seen = l.count;
    l.bad = 0;
  }
  return errors;
}

function closeListeners(st) {
  for (const l of st.listeners ?? []) l.socket.disconnect();
  st.listeners = undefined;
}

/** After insert: bench_events holds exactly one row per acknowledged insert. */
async function countInserts(acked) {
  const conn = await mysql.createConnection({ uri: dbUrl, connectTimeout: 5000 });
  try {
    const [[{ n }]] = await conn.query('SELECT COUNT(*) AS n FROM bench_events');
    return Number(n) === acked ? [] : [['INSERT_COUNT', `bench_events has ${n} rows, ${acked} inserts were acknowledged`]];
  } finally {
    await conn.end();
  }
}
let dbUrl;

/**
 * One round on one server: every load socket emits, waits for its ack, checks it
 * and emits again (a closed loop) for warmup + duration. Only requests that complete
 * inside the measured window count. Anything that is not a correct `{ ok: true }`
 * envelope is an error; requests still unanswered DRAIN_MS after the end time out.
 */
async function runRound(st, scenario, servers) {
  const { sockets, server } = st;
  const warmupNs = BigInt(Math.round(opts.warmupS * 1e9));
  const durationNs = BigInt(Math.round(opts.durationS * 1e9));
  const latencies = []; // ms, measured window only
  const errors = new Map(); // code -> { count, example }
  let completed = 0; // measured
  let okTotal = 0; // every correct reply of the round, warm-up and stragglers too
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

  const loop = (socket, i) =>
    new Promise((resolve) => {
      const next = () => {
        if (stopped || dead) return resolve();
        const payload = scenario.payload(i, st);
        const start = process.hrtime.bigint();
        inFlight++;
        socket.emit(scenario.event, payload, (envelope) => {
          inFlight--;
          if (dead) return resolve();
          const end = process.hrtime.bigint();
          const measured = end >= measureFrom && end <= measureTo;
          if (!envelope || envelope.ok !== true || envelope.err !== false) {
            error(envelope?.code ?? 'BAD_ENVELOPE', JSON.stringify(envelope)?.slice(0, 300));
          } else if (!scenario.check(payload, envelope.res, i, st)) {
            error('WRONG_RESULT', `${JSON.stringify(payload)} -> ${JSON.stringify(envelope.res)?.slice(0, 300)}`);
          } else {
            okTotal++;
            if (measured) {
              completed++;
              latencies.push(Number(end - start) / 1e6);
            }
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
    okTotal,
    seconds,
    // The measured window on the monotonic clock in µs: the clock of --cpu-prof profiles (bench/profile.js).
    windowUs: [Number(measureFrom / 1000n), Number((end < measureTo ? end : measureTo) / 1000n)],
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    latencies,
    cpu: cpuDelta(snapFrom, snapTo, server.label),
    foreign: foreignTop(snapFrom, snapTo, new Set([process.pid, dbPid, ...servers.map((s) => s.pid)])),
    errors: Object.fromEntries([...errors].map(([code, e]) => [code, e])),
    errorCount: [...errors.values()].reduce((a, e) => a + e.count, 0),
  };
}

// ---------------------------------------------------------------- main

const perMsg = (ms, n) => (ms === undefined || n === 0 ? undefined : (ms * 1000) / n);
const sum = (xs) => (xs.some((x) => x === undefined) ? undefined : xs.reduce((a, b) => a + b, 0));
const finite = (x) => (Number.isFinite(x) ? x : null);
const NOISY = 0.15; // other load above 15% of one core makes a round suspect
const ROLES = ['sockey', 'hand-written'];

async function main() {
  const started = new Date();
  const cores = os.cpus().length;
  log(`sockey bench: ${opts.clients} clients, ${opts.rounds} round(s) x ${opts.durationS} s (+${opts.warmupS} s warm-up) per server, scenarios ${scenarioNames.join(', ')}`);
  log(`node ${process.version}, ${cores} core(s) ${os.cpus()[0]?.model ?? ''}: the load generator, the servers and MariaDB share them`);

  // Server pairs: the MariaDB manifest and its hand-written twin; the SQLite ones for sqlite.get.
  const pairs = {};
  if (needs.mysql) {
    const db = await createDatabase();
    dbUrl = db.url;
    log(`created database ${db.name} with ${USERS} bench_users and an empty bench_events`);
    const env = { BENCH_MYSQL_URL: db.url };
    const [s, h] = await Promise.all([startSockey('sockey', 'sockey.bench.yaml', env), startHandwritten('hand-written', [], env)]);
    pairs.mysql = { sockey: s, 'hand-written': h };
  }
  if (needs.sqlite) {
    const file = createSqlite();
    log(`created ${file} with ${USERS} bench_users`);
    const env = { BENCH_SQLITE_FILE: file };
    const [s, h] = await Promise.all([startSockey('sockey-sqlite', 'sockey.sqlite.bench.yaml', env), startHandwritten('hand-written-sqlite', ['--sqlite'], env)]);
    pairs.sqlite = { sockey: s, 'hand-written': h };
  }
  dbPid = findDatabasePid();
  const servers = Object.values(pairs).flatMap((p) => ROLES.map((r) => p[r]));
  for (const s of servers) log(`${s.label.padEnd(19)} on 127.0.0.1:${s.port} (pid ${s.pid})`);
  if (process.env.BENCH_SOCKEY_BIN) log(`sockey is ${sockeyBin}`);
  if (process.env.BENCH_SOCKEY_METRICS === '1') log('sockey serves with server.metrics: true');
  if (nodeArgs.length) log(`servers run with node ${nodeArgs.join(' ')}`);
  if (['0', 'false'].includes(process.env.BENCH_HAND_TRACE ?? '')) log('hand-written mysql2 pool with trace: false (BENCH_HAND_TRACE)');

  const sockets = new Map();
  for (const s of servers) sockets.set(s.label, await openSockets(s.port, opts.clients));
  log(`${opts.clients} websocket clients connected to each server`);
  log('per round: throughput, latency, and CPU per message of the server, the load generator (client) and MariaDB (db);');
  log('"other" is user+system CPU on the machine that none of them used (other processes), in % of one core; irq is');
  log("the kernel's interrupt/softirq time (loopback networking), charged to no process");

  const results = {};
  let totalErrors = 0;
  const noisy = [];
  for (const name of scenarioNames) {
    const scenario = SCENARIOS[name];
    const pair = pairs[scenario.backend ?? 'mysql'];
    const states = Object.fromEntries(ROLES.map((role) => [role, { role, server: pair[role], sockets: sockets.get(pair[role].label) }]));
    log(`\n== ${name}: ${scenario.what}`);
    if (scenario.setup) {
      for (const role of ROLES) await within(SETUP_MS + CONNECT_MS, `${name} setup on ${pair[role].label}`, scenario.setup(states[role]));
      log(`  set up (${scenario.setup.name}) on both servers`);
    }
    const rounds = { sockey: [], 'hand-written': [] };
    let acked = 0;
    for (let r = 0; r < opts.rounds; r++) {
      for (const role of ROLES) {
        const st = states[role];
        for (let attempt = 0; ; attempt++) {
          if (opts.quietWaitS > 0) await waitForQuiet(servers);
          const res = await runRound(st, scenario, servers);
          acked += res.okTotal;
          for (const [code, example] of scenario.afterRound ? await scenario.afterRound(st, res) : []) {
            res.errors[code] ??= { count: 0, example };
            res.errors[code].count++;
            res.errorCount++;
          }
          totalErrors += res.errorCount;
          const c = res.cpu;
          const pct = (ms) => (ms === undefined ? undefined : (100 * ms) / 1000 / res.seconds);
          const otherPct = pct(c.other);
          const isNoisy = otherPct !== undefined && otherPct > NOISY * 100;
          const retry = isNoisy && attempt < opts.retries;
          log(
            `  round ${r + 1} ${role.padEnd(12)} ${fmt(res.throughput).padStart(7)} msg/s  p50 ${fmt(res.p50, 2).padStart(5)} ms  p99 ${fmt(res.p99, 2).padStart(6)} ms` +
              `  us/msg: server ${fmt(perMsg(c.server, res.completed), 1)} client ${fmt(perMsg(c.client, res.completed), 1)} db ${fmt(perMsg(c.db, res.completed), 1)}` +
              `  other ${fmt(otherPct)}% irq ${fmt(pct(c.irq))}% steal ${fmt(pct(c.steal))}%${res.errorCount ? `  ERRORS ${res.errorCount}` : ''}${retry ? '  (noisy: repeated)' : ''}`,
          );
          for (const [code, e] of Object.entries(res.errors)) log(`    ${code} x${e.count}: ${e.example ?? ''}`);
          if (isNoisy) {
            const who = res.foreign.map(([n, ms]) => `${n} ${fmt(pct(ms))}%`).join(', ');
            noisy.push(`${name} round ${r + 1} ${role}${attempt ? ` (attempt ${attempt + 1})` : ''}: other load ${fmt(otherPct)}%${who ? ` (${who})` : ''}${retry ? ', repeated' : ', kept'}`);
          }
          if (!retry) {
            rounds[role].push(res);
            break;
          }
        }
      }
    }
    // A scenario-wide check over every correct ack of both servers (kept and repeated rounds).
    const extra = scenario.afterScenario ? await scenario.afterScenario(acked) : [];
    for (const role of ROLES) scenario.teardown?.(states[role]);
    for (const [code, example] of extra) {
      log(`  ${code}: ${example}`);
      totalErrors++;
    }

    const summary = {};
    for (const role of ROLES) {
      const rs = rounds[role];
      const tps = rs.map((x) => x.throughput);
      const cpus = rs.map((x) => perMsg(x.cpu.server, x.completed));
      const all = rs.flatMap((x) => x.latencies);
      const completed = rs.reduce((a, x) => a + x.completed, 0);
      summary[role] = {
        process: pair[role].label,
        throughput: median(tps),
        throughputMean: mean(tps),
        throughputRounds: tps.map((x) => Math.round(x)),
        spread: tps.length > 1 ? (Math.max(...tps) - Math.min(...tps)) / mean(tps) : 0,
        p50: percentile(all, 0.5),
        p99: percentile(all, 0.99),
        p50Rounds: rs.map((x) => +x.p50.toFixed(3)),
        p99Rounds: rs.map((x) => +x.p99.toFixed(3)),
        completed,
        serverUsPerMsg: cpus.includes(undefined) ? undefined : median(cpus),
        serverUsPerMsgRounds: cpus.map((x) => (x === undefined ? null : +x.toFixed(1))),
        cpuUsPerMsgAllRounds: {
          server: perMsg(sum(rs.map((x) => x.cpu.server)), completed),
          client: perMsg(sum(rs.map((x) => x.cpu.client)), completed),
          db: perMsg(sum(rs.map((x) => x.cpu.db)), completed),
        },
        otherLoadPctRounds: rs.map((x) => (x.cpu.other === undefined ? null : Math.round((100 * x.cpu.other) / 1000 / x.seconds))),
        errors: rs.reduce((a, x) => a + x.errorCount, 0),
        errorDetail: rs.map((x) => x.errors),
        rounds: rs.map((x) => ({ completed: x.completed, windowUs: x.windowUs, serverCpuMs: x.cpu.server ?? null })),
      };
    }
    // Round i of sockey and round i of the hand-written server ran back to back: the
    // median of their ratios is less sensitive to load that comes and goes than a ratio of means.
    const pairRatios = rounds.sockey.map((x, i) => x.throughput / rounds['hand-written'][i].throughput);
    const cpuPairRatios = rounds.sockey.map((x, i) => perMsg(x.cpu.server, x.completed) / perMsg(rounds['hand-written'][i].cpu.server, rounds['hand-written'][i].completed));
    const ratio = finite(median(pairRatios));
    const cpuRatio = finite(median(cpuPairRatios));
    const valid = ratio !== null && summary.sockey.errors === 0 && summary['hand-written'].errors === 0 && extra.length === 0;
    const fastEnough = ratio !== null && ratio >= scenario.bar;
    const cheapEnough = cpuRatio === null || cpuRatio <= CPU_BAR; // no CPU figures off Linux: judged on throughput
    results[name] = {
      what: scenario.what,
      ...summary,
      ratio,
      pairRatios: pairRatios.map((x) => (Number.isFinite(x) ? +x.toFixed(3) : null)),
      ratioOfMeans: finite(summary.sockey.throughputMean / summary['hand-written'].throughputMean),
      serverCpuRatio: cpuRatio,
      cpuPairRatios: cpuPairRatios.map((x) => (Number.isFinite(x) ? +x.toFixed(3) : null)),
      bar: { throughput: scenario.bar, cpu: CPU_BAR },
      valid,
      verdict: !valid ? 'INVALID' : fastEnough && cheapEnough ? 'PASS' : 'FAIL',
      extraErrors: extra,
    };
  }

  for (const list of sockets.values()) for (const s of list) s.disconnect();

  // ------------------------------------------------------------ report
  const out = [];
  const head = `${opts.clients} clients, median of ${opts.rounds} alternating round(s) of ${opts.durationS} s per server (${opts.warmupS} s warm-up discarded), ${cores} cores shared by client, servers and MariaDB`;
  out.push('');
  out.push(`sockey bench: ${head}`);
  out.push('');
  out.push('scenario       server        msg/s (median)  per round                  p50 ms   p99 ms  server us/msg  per round            errors');
  for (const name of scenarioNames) {
    for (const role of ROLES) {
      const s = results[name][role];
      out.push(
        `${name.padEnd(14)} ${role.padEnd(12)} ${fmt(s.throughput).padStart(15)}  ${s.throughputRounds.join(' / ').padEnd(25)} ${fmt(s.p50, 2).padStart(7)}  ${fmt(s.p99, 2).padStart(7)}  ${fmt(s.serverUsPerMsg, 1).padStart(13)}  ${s.serverUsPerMsgRounds
          .map((x) => fmt(x, 1))
          .join(' / ')
          .padEnd(20)} ${String(s.errors).padStart(6)}`,
      );
    }
  }
  out.push('');
  out.push('throughput ratio and CPU ratio: sockey / hand-written, median of the per-round-pair ratios');
  out.push('');
  const cols = 'scenario       hand msg/s  sockey msg/s  ratio   hand us/msg  sockey us/msg  CPU ratio  bar (ratio / CPU)   verdict';
  out.push(cols);
  for (const name of scenarioNames) {
    const r = results[name];
    out.push(
      `${name.padEnd(14)} ${fmt(r['hand-written'].throughput).padStart(10)}  ${fmt(r.sockey.throughput).padStart(12)}  ${(fmt(r.ratio, 3) + 'x').padStart(6)}  ${fmt(r['hand-written'].serverUsPerMsg, 1).padStart(11)}  ${fmt(r.sockey.serverUsPerMsg, 1).padStart(13)}  ${(fmt(r.serverCpuRatio, 3) + 'x').padStart(9)}  ${`>= ${r.bar.throughput.toFixed(2)}x / <= ${CPU_BAR.toFixed(2)}x`.padEnd(18)}  ${r.verdict}`,
    );
  }
  out.push('');
  for (const name of scenarioNames) {
    const r = results[name];
    const short = [];
    if (r.ratio !== null && r.ratio < r.bar.throughput) short.push(`throughput ${fmt(100 * (r.bar.throughput - r.ratio), 1)} points below the bar`);
    if (r.serverCpuRatio !== null && r.serverCpuRatio > CPU_BAR) short.push(`CPU ${fmt(100 * (r.serverCpuRatio - CPU_BAR), 1)} points over the bar`);
    out.push(
      `${r.verdict.padEnd(7)} ${name} (${r.what}): throughput ${fmt(r.ratio, 3)}x (bar ${r.bar.throughput}x; pairs ${r.pairRatios.map((x) => fmt(x, 2)).join(' / ')}), ` +
        `server CPU ${fmt(r.serverCpuRatio, 3)}x (bar ${CPU_BAR}x; pairs ${r.cpuPairRatios.map((x) => fmt(x, 2)).join(' / ')})${short.length ? `: ${short.join(', ')}` : ''}${r.valid ? '' : ': errors, see above'}`,
    );
  }
  const unstable = scenarioNames.flatMap((n) => ROLES.filter((role) => results[n][role].spread > 0.15).map((role) => `${n} ${role} ${fmt(100 * results[n][role].spread)}%`));
  if (unstable.length) out.push(`\nunstable: rounds differ by more than 15% of the mean (max-min): ${unstable.join(', ')}`);
  if (noisy.length) out.push(`noisy: other processes used more than ${NOISY * 100}% of a core during:\n  ${noisy.join('\n  ')}`);
  if (totalErrors) out.push(`\n${totalErrors} request(s) failed: these results are NOT valid (see the errors above)`);

  const command = `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim();
  const md = [
    `${started.toISOString().slice(0, 10)}, \`${command}\`: ${head}. Ratios are sockey / hand-written, the median of the per-round-pair ratios.`,
    '',
    '| scenario | hand-written msg/s | sockey msg/s | throughput ratio | hand-written server µs/msg | sockey server µs/msg | CPU ratio | bar | verdict |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...scenarioNames.map((name) => {
      const r = results[name];
      return `| \`${name}\` | ${fmt(r['hand-written'].throughput)} | ${fmt(r.sockey.throughput)} | **${fmt(r.ratio, 2)}×** | ${fmt(r['hand-written'].serverUsPerMsg, 1)} | ${fmt(r.sockey.serverUsPerMsg, 1)} | **${fmt(r.serverCpuRatio, 2)}×** | ≥ ${r.bar.throughput.toFixed(2)}× / ≤ ${CPU_BAR.toFixed(2)}× | ${r.verdict} |`;
    }),
  ].join('\n');
  out.push('\nMarkdown (also in bench/results/latest.md):\n');
  out.push(md);
  process.stdout.write(out.join('\n') + '\n');

  const json = {
    date: started.toISOString(),
    command,
    sockeyBin: path.relative(root, sockeyBin),
    options: {
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      rounds: opts.rounds,
      clients: opts.clients,
      retries: opts.retries,
      quietWaitS: opts.quietWaitS,
      scenarios: scenarioNames,
      nodeArgs,
      handTrace: !['0', 'false'].includes(process.env.BENCH_HAND_TRACE ?? ''),
    },
    machine: { node: process.version, cores, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}` },
    servers: Object.fromEntries(servers.map((s) => [s.label, { pid: s.pid, port: s.port }])),
    results,
    errors: totalErrors,
    unstable,
    noisy,
    serverProblems: Object.fromEntries(servers.map((s) => [s.label, { count: s.problemCount, first: s.problems }])),
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'latest.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(path.join(here, 'results', 'latest.md'), md + '\n');
  log(`\nwrote bench/results/latest.json and bench/results/latest.md`);
  return totalErrors ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  (e) => void bail(1, e?.stack ?? String(e)),
);

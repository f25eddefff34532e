#!/usr/bin/env node
// The --workers benchmark (issue 11): `sockey serve --workers 2` against `--workers 1`,
// with the hand-written socket.io server (bench/handwritten.js, one process) as the
// reference, on echo (no database) and user.get (a primary-key SELECT on MariaDB).
//
//   npm run bench:workers                                # build, then 3 x 3 s rounds per configuration (~1.5 min)
//   node bench/workers.js --rounds 1 --duration 1        # a smoke run
//   node bench/workers.js --help
//
// Configurations, all started once and kept up (one MariaDB database for all three):
//   hand-written   node bench/handwritten.js (socket.io + mysql2 pool of 10)
//   workers-1      node bin/sockey.js serve bench/sockey.bench.yaml --workers 1 (one process: no primary)
//   workers-2      the same with --workers 2: a primary (sticky sessions) and 2 workers, a pool of 10 each
// Load: --clients (32) closed loops (emit with an ack, every reply checked), websocket
// only, spread over --load-procs (2) child processes (bench/workers-load.js) so that one
// load-generator thread is not the ceiling. Rounds alternate the order of the
// configurations (hand, 1, 2, then 2, 1, hand, ...). Server CPU per message is the sum over
// the server's process tree (the primary and every worker), from /proc.
//
// Needs MariaDB on 127.0.0.1:3306 with root and no password, or BENCH_MYSQL_ROOT_URL. Uses
// the built dist/ (npm run build first; npm run bench:workers does).
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createMariaDb, USERS } from './db.js';
import { childPids, connectionsOn, cpuMs, findDatabasePid, machineCpuMs } from './proc.js';
import { serverStarter } from './servers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: process.env.BENCH_DURATION ?? '3' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '1' },
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '3' },
    clients: { type: 'string', default: process.env.BENCH_CLIENTS ?? '32' },
    'load-procs': { type: 'string', default: '2' },
    workers: { type: 'string', default: '2' },
    scenario: { type: 'string', default: 'echo,user.get' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(
    lines
      .slice(
        1,
        lines.findIndex((l) => l.startsWith('import ')),
      )
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  console.log(`Options: --duration S (3)  --warmup S (1)  --rounds N (3)  --clients N (32)  --load-procs N (2)  --workers N (2: the many-worker configuration)  --scenario echo,user.get
Environment: BENCH_MYSQL_ROOT_URL, BENCH_SOCKEY_BIN (another build's bin/sockey.js), BENCH_NODE_ARGS (node flags for every server process), BENCH_HAND_TRACE=0 (as bench/run.js)`);
  process.exit(0);
}
function option(name, check) {
  const n = Number(values[name]);
  if (!check(n)) {
    console.error(`bench: --${name} ${values[name]} is out of range (node bench/workers.js --help)`);
    process.exit(2);
  }
  return n;
}
const DURATION_MS = option('duration', (n) => n > 0 && n <= 300) * 1000;
const WARMUP_MS = option('warmup', (n) => n >= 0 && n <= 60) * 1000;
const ROUNDS = option('rounds', (n) => Number.isInteger(n) && n >= 1 && n <= 50);
const CLIENTS = option('clients', (n) => Number.isInteger(n) && n >= 1 && n <= 1000);
const LOAD_PROCS = option('load-procs', (n) => Number.isInteger(n) && n >= 1 && n <= 16 && n <= CLIENTS);
const WORKERS = option('workers', (n) => Number.isInteger(n) && n >= 2 && n <= 64);
const SCENARIOS = [...new Set(values.scenario.split(',').map((s) => s.trim()))];
const WHAT = { echo: 'validated params, reply, no database', 'user.get': 'primary-key SELECT on MariaDB' };
if (!SCENARIOS.every((s) => s in WHAT)) {
  console.error(`bench: --scenario must be echo, user.get or both (comma-separated), got "${values.scenario}"`);
  process.exit(2);
}
const rootUrl = process.env.BENCH_MYSQL_ROOT_URL ?? 'mysql://root@127.0.0.1:3306';
const sockeyBin = path.resolve(process.env.BENCH_SOCKEY_BIN ?? path.join(root, 'bin/sockey.js'));
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const START_MS = 60_000; // a server (all its workers) must serve within this
const CONNECT_MS = 120_000; // a configuration's sockets must connect within this (a lost CONNECT costs a 3 s retry)
const LEAD_MS = 100; // from the round message to the start of the loops
const DRAIN_MS = 5_000; // after a round: how long in-flight requests may still take

const now = () => performance.timeOrigin + performance.now(); // epoch ms, the clock of bench/workers-load.js
function log(line) {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------- cleanup

const children = new Set(); // servers
const loaders = []; // load-generator processes
let database;
let cleaning;

function cleanup() {
  cleaning ??= (async () => {
    for (const l of loaders) if (l.exitCode === null && l.signalCode === null) l.kill('SIGTERM');
    await starter.stopAll();
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
  setTimeout(() => process.exit(code), 10_000).unref();
  await cleanup();
  process.exit(code);
}
process.on('SIGINT', () => void bail(130, 'interrupted'));
process.on('SIGTERM', () => void bail(143, 'terminated'));
process.on('uncaughtException', (e) => void bail(1, e.stack ?? String(e)));
process.on('unhandledRejection', (e) => void bail(1, e?.stack ?? String(e)));
const budgetMs = SCENARIOS.length * 3 * ROUNDS * (LEAD_MS + WARMUP_MS + DURATION_MS + DRAIN_MS + 2000) + 3 * (START_MS + CONNECT_MS) + 60_000;
setTimeout(() => void bail(1, `the benchmark did not finish within ${Math.round(budgetMs / 1000)} s: aborted`), budgetMs).unref();

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

// ---------------------------------------------------------------- load generators

/** Forks a load-generator process; ask(message) sends one request and resolves with its answer. */
function startLoader(i) {
  const child = fork(path.join(here, 'workers-load.js'), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  loaders.push(child);
  let pending;
  child.on('message', (m) => {
    const p = pending;
    pending = undefined;
    if (m?.type === 'error') p?.reject(new Error(`load generator ${i + 1}: ${m.message}`));
    else p?.resolve(m);
  });
  child.on('exit', (code, signal) => {
    if (!cleaning) void bail(1, `load generator ${i + 1} exited unexpectedly (${signal ?? code})`);
  });
  return {
    pid: child.pid,
    ask: (message) =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send(message);
      }),
  };
}

/** Clients per load generator: CLIENTS split as evenly as possible. */
const shares = () => Array.from({ length: LOAD_PROCS }, (_, i) => Math.floor(CLIENTS / LOAD_PROCS) + (i < CLIENTS % LOAD_PROCS ? 1 : 0));

// ---------------------------------------------------------------- measuring

/** A process and all its descendants (the primary, its workers, anything they started). */
function tree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childPids(out[i]));
  return out;
}

/** CPU counters at one instant: every server process, the load generators, this process, MariaDB, the machine. */
function snapshot(configs, gens, dbPid) {
  const own = process.cpuUsage();
  return {
    servers: configs.map((c) => new Map(tree(c.server.pid).map((pid) => [pid, cpuMs(pid)]))),
    load: gens.reduce((a, g) => a + (cpuMs(g.pid) ?? 0), 0),
    self: (own.user + own.system) / 1000,
    db: dbPid ? cpuMs(dbPid) : undefined,
    machine: machineCpuMs(),
  };
}

/** CPU ms between two snapshots: per configuration { total, byPid, changed } (changed: a process came or went), and the rest. */
function delta(a, b) {
  const servers = b.servers.map((to, i) => {
    const from = a.servers[i];
    const byPid = new Map();
    let total = 0;
    for (const [pid, ms] of to) {
      const d = (ms ?? 0) - (from.get(pid) ?? 0);
      byPid.set(pid, d);
      total += d;
    }
    const changed = from.size !== to.size || [...from.keys()].some((pid) => !to.has(pid));
    return { total, byPid, changed };
  });
  const db = a.db !== undefined && b.db !== undefined ? b.db - a.db : undefined;
  const busy = a.machine && b.machine ? b.machine.busy - a.machine.busy : undefined;
  const ours = servers.reduce((s, x) => s + x.total, 0) + (b.load - a.load) + (b.self - a.self) + (db ?? 0);
  return { servers, load: b.load - a.load, db, other: busy === undefined ? undefined : Math.max(0, busy - ours) };
}

/** One round of `scenario` on configuration `index`: every load generator's loops in one shared window. */
async function runRound(configs, index, scenario, gens, dbPid) {
  const config = configs[index];
  const startAt = now() + LEAD_MS;
  const from = startAt + WARMUP_MS;
  const to = from + DURATION_MS;
  let snapFrom;
  let snapTo;
  const marks = new Promise((resolve) => {
    setTimeout(
      () => {
        snapFrom = snapshot(configs, gens, dbPid);
        setTimeout(() => {
          snapTo = snapshot(configs, gens, dbPid);
          resolve();
        }, to - now());
      },
      Math.max(0, from - now()),
    );
  });
  const answers = await Promise.all(gens.map((g) => g.ask({ type: 'round', port: config.server.port, scenario, startAt, from, to, drainMs: DRAIN_MS })));
  await marks;
  const cpu = delta(snapFrom, snapTo);
  const mine = cpu.servers[index];
  const completed = answers.reduce((a, x) => a + x.completed, 0);
  const errors = {};
  for (const x of answers) {
    for (const [code, e] of Object.entries(x.errors)) {
      errors[code] ??= { count: 0, example: e.example };
      errors[code].count += e.count;
    }
  }
  const latencies = new Float64Array(answers.reduce((a, x) => a + x.latencies.length, 0));
  let at = 0;
  for (const x of answers) {
    latencies.set(x.latencies, at);
    at += x.latencies.length;
  }
  latencies.sort();
  const perMsg = (ms) => (ms === undefined || completed === 0 ? NaN : (ms * 1000) / completed);
  return {
    throughput: (completed * 1000) / DURATION_MS,
    completed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    serverUs: perMsg(mine.total),
    // The primary first, then its workers (and what they started), in µs per message.
    splitUs: [...mine.byPid.values()].map(perMsg),
    processChanged: mine.changed,
    loadUs: perMsg(cpu.load),
    dbUs: perMsg(cpu.db),
    otherPct: cpu.other === undefined ? NaN : (100 * cpu.other) / DURATION_MS,
    errors,
    errorCount: Object.values(errors).reduce((a, e) => a + e.count, 0),
    load1: os.loadavg()[0],
  };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');
const x = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');
const loadavg = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

// ---------------------------------------------------------------- main

async function main() {
  const started = new Date();
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const loadStart = loadavg();
  log(
    `workers bench: ${CLIENTS} clients over ${LOAD_PROCS} load process(es), ${ROUNDS} round(s) x ${DURATION_MS / 1000} s (+${WARMUP_MS / 1000} s warm-up) per configuration, scenarios ${SCENARIOS.join(', ')}`,
  );
  log(`node ${process.version}, ${cores} core(s) ${os.cpus()[0]?.model ?? ''}: the load generators, every server process and MariaDB share them; load average ${loadStart} at start`);

  const db = await createMariaDb(rootUrl, (d) => (database = d));
  log(`created database ${db.name} with ${USERS} bench_users`);
  const env = { BENCH_MYSQL_URL: db.url };
  const manifest = path.join(here, 'sockey.bench.yaml');
  // One after the other: the two sockey servers create their auth tables in the same database.
  const configs = [
    { name: 'hand-written', server: await starter.handwritten('hand-written', [], env) },
    { name: 'workers-1', server: await starter.sockey('workers-1', sockeyBin, manifest, env, ['--workers', '1', '--no-watch']) },
    { name: `workers-${WORKERS}`, server: await starter.sockey(`workers-${WORKERS}`, sockeyBin, manifest, env, ['--workers', String(WORKERS), '--no-watch']) },
  ];
  const many = configs[2];
  many.workerPids = childPids(many.server.pid);
  for (const c of configs) log(`${c.name.padEnd(12)} on 127.0.0.1:${c.server.port} (pid ${c.server.pid}${c.workerPids ? `; workers ${c.workerPids.join(', ')}` : ''})`);
  if (process.env.BENCH_SOCKEY_BIN) log(`sockey is ${sockeyBin}`);
  if (many.workerPids.length !== WORKERS) log(`  note: the primary of ${many.name} has ${many.workerPids.length} child process(es), expected ${WORKERS}`);
  const dbPid = findDatabasePid();

  const gens = Array.from({ length: LOAD_PROCS }, (_, i) => startLoader(i));
  for (const c of configs) {
    // One load generator after the other, each one socket at a time (see workers-load.js).
    c.connectRetries = 0;
    await within(CONNECT_MS, `connecting to ${c.name}`, async () => {
      for (const [i, g] of gens.entries()) c.connectRetries += (await g.ask({ type: 'connect', port: c.server.port, clients: shares()[i] })).retries;
    });
  }
  log(`${CLIENTS} websocket clients connected to each configuration (${shares().join(' + ')} per load process)`);
  for (const c of configs) {
    if (c.connectRetries)
      log(
        `  note: ${c.name}: ${c.connectRetries} connect(s) opened the engine but got no answer to the namespace CONNECT within 3 s, and were opened again (the first frame after the handshake was lost)`,
      );
  }
  const spread = connectionsOn(many.server.port, [many.server.pid, ...many.workerPids]);
  if (spread) {
    log(`${many.name}: connections held by the primary ${spread[0]}, by each worker ${spread.slice(1).join(' / ')}`);
    if (Math.max(...spread.slice(1)) - Math.min(...spread.slice(1)) > Math.ceil(CLIENTS / WORKERS / 4)) log(`  note: the clients are not spread evenly over the workers`);
  }
  many.spread = spread;

  const results = {};
  let totalErrors = 0;
  for (const scenario of SCENARIOS) {
    log(`\n== ${scenario}: ${WHAT[scenario]}`);
    const rounds = configs.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? [2, 1, 0] : [0, 1, 2];
      for (const i of order) {
        const res = await runRound(configs, i, scenario, gens, dbPid);
        rounds[i].push(res);
        totalErrors += res.errorCount;
        const split =
          res.splitUs.length > 1
            ? ` (primary ${fmt(res.splitUs[0], 1)}, workers ${res.splitUs
                .slice(1)
                .map((u) => fmt(u, 1))
                .join(' + ')})`
            : '';
        log(
          `  round ${r + 1} ${configs[i].name.padEnd(12)} ${fmt(res.throughput).padStart(7)} msg/s  p50 ${fmt(res.p50, 2).padStart(5)} ms  p99 ${fmt(res.p99, 2).padStart(6)} ms` +
            `  us/msg: server ${fmt(res.serverUs, 1)}${split} load ${fmt(res.loadUs, 1)} db ${fmt(res.dbUs, 1)}  other ${fmt(res.otherPct)}%  load avg ${res.load1.toFixed(1)}` +
            `${res.processChanged ? '  (a server process came or went)' : ''}${res.errorCount ? `  ERRORS ${res.errorCount}` : ''}`,
        );
        for (const [code, e] of Object.entries(res.errors)) log(`    ${code} x${e.count}: ${e.example ?? ''}`);
      }
    }
    const pairs = (a, b, key) => rounds[a].map((ra, k) => ra[key] / rounds[b][k][key]);
    const ratio = (a, b) => {
      const tp = pairs(a, b, 'throughput');
      const cpu = pairs(a, b, 'serverUs');
      return { throughput: median(tp), cpu: median(cpu), throughputRounds: tp, cpuRounds: cpu };
    };
    results[scenario] = {
      what: WHAT[scenario],
      configs: Object.fromEntries(
        configs.map((c, i) => {
          const rs = rounds[i];
          return [
            c.name,
            {
              throughput: median(rs.map((q) => q.throughput)),
              throughputRounds: rs.map((q) => Math.round(q.throughput)),
              p50: median(rs.map((q) => q.p50)),
              p99: median(rs.map((q) => q.p99)),
              serverUs: median(rs.map((q) => q.serverUs)),
              serverUsRounds: rs.map((q) => +q.serverUs.toFixed(1)),
              splitUs: rs.map((q) => q.splitUs.map((u) => +u.toFixed(1))),
              loadUs: median(rs.map((q) => q.loadUs)),
              dbUs: median(rs.map((q) => q.dbUs)),
              otherPctRounds: rs.map((q) => Math.round(q.otherPct)),
              errors: rs.reduce((a, q) => a + q.errorCount, 0),
            },
          ];
        }),
      ),
      ratios: { [`${many.name}/workers-1`]: ratio(2, 1), 'workers-1/hand-written': ratio(1, 0), [`${many.name}/hand-written`]: ratio(2, 0) },
    };
  }
  for (const c of configs) for (const g of gens) await g.ask({ type: 'close', port: c.server.port });

  // ------------------------------------------------------------ report
  const loadEnd = loadavg();
  const out = [''];
  out.push(
    `workers bench: ${CLIENTS} clients over ${LOAD_PROCS} load process(es), median of ${ROUNDS} alternating round(s) of ${DURATION_MS / 1000} s per configuration; ${cores} cores shared by everything; load average ${loadStart} at start, ${loadEnd} at end`,
  );
  out.push('');
  out.push('scenario  config        msg/s (median)  per round                  p50 ms  p99 ms  server us/msg  per round            load us/msg  errors');
  for (const scenario of SCENARIOS) {
    for (const c of configs) {
      const s = results[scenario].configs[c.name];
      out.push(
        `${scenario.padEnd(9)} ${c.name.padEnd(12)} ${fmt(s.throughput).padStart(15)}  ${s.throughputRounds
          .map((n) => fmt(n))
          .join(' / ')
          .padEnd(25)} ${fmt(s.p50, 2).padStart(6)}  ${fmt(s.p99, 2).padStart(6)}  ${fmt(s.serverUs, 1).padStart(13)}  ${s.serverUsRounds
          .map((n) => fmt(n, 1))
          .join(' / ')
          .padEnd(20)} ${fmt(s.loadUs, 1).padStart(11)}  ${String(s.errors).padStart(6)}`,
      );
    }
  }
  out.push('');
  out.push('ratios: throughput / server CPU per message, the median of the per-round ratios (each round of one configuration against the same round of the other)');
  for (const scenario of SCENARIOS) {
    for (const [name, r] of Object.entries(results[scenario].ratios)) {
      out.push(
        `${scenario.padEnd(9)} ${name.padEnd(25)} throughput ${x(r.throughput).padStart(6)} (rounds ${r.throughputRounds.map((n) => fmt(n, 2)).join(' / ')})  server CPU ${x(r.cpu).padStart(6)} (rounds ${r.cpuRounds.map((n) => fmt(n, 2)).join(' / ')})`,
      );
    }
  }
  if (totalErrors) out.push(`\n${totalErrors} request(s) failed: these results are NOT valid (see the errors above)`);

  const command = `node bench/workers.js ${process.argv.slice(2).join(' ')}`.trim();
  const w = many.name;
  const md = [
    `${started.toISOString().slice(0, 10)}, \`${command}\`: ${CLIENTS} clients over ${LOAD_PROCS} load processes, ${ROUNDS} x ${DURATION_MS / 1000} s rounds, ${cores} cores shared by everything, load average ${loadStart.split(' ')[0]} at start and ${loadEnd.split(' ')[0]} at end. Ratios are medians of the per-round ratios.`,
    '',
    `| scenario | hand-written msg/s | workers 1 msg/s | workers ${WORKERS} msg/s | ${WORKERS} / 1 | 1 / hand | ${WORKERS} / hand | hand µs/msg | workers 1 µs/msg | workers ${WORKERS} µs/msg | CPU ${WORKERS} / 1 | CPU 1 / hand | CPU ${WORKERS} / hand |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...SCENARIOS.map((scenario) => {
      const r = results[scenario];
      const c = r.configs;
      const q = r.ratios;
      return `| \`${scenario}\` | ${fmt(c['hand-written'].throughput)} | ${fmt(c['workers-1'].throughput)} | ${fmt(c[w].throughput)} | **${fmt(q[`${w}/workers-1`].throughput, 2)}×** | ${fmt(q['workers-1/hand-written'].throughput, 2)}× | ${fmt(q[`${w}/hand-written`].throughput, 2)}× | ${fmt(c['hand-written'].serverUs, 1)} | ${fmt(c['workers-1'].serverUs, 1)} | ${fmt(c[w].serverUs, 1)} | **${fmt(q[`${w}/workers-1`].cpu, 2)}×** | ${fmt(q['workers-1/hand-written'].cpu, 2)}× | ${fmt(q[`${w}/hand-written`].cpu, 2)}× |`;
    }),
  ].join('\n');
  out.push('\nMarkdown (also in bench/results/workers.md):\n');
  out.push(md);
  process.stdout.write(out.join('\n') + '\n');

  mkdirSync(path.join(here, 'results'), { recursive: true });
  const json = {
    date: started.toISOString(),
    command,
    sockeyBin: path.relative(root, sockeyBin),
    options: { durationS: DURATION_MS / 1000, warmupS: WARMUP_MS / 1000, rounds: ROUNDS, clients: CLIENTS, loadProcs: LOAD_PROCS, workers: WORKERS, scenarios: SCENARIOS, nodeArgs },
    machine: { node: process.version, cores, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}`, loadavgStart: loadStart, loadavgEnd: loadEnd },
    servers: Object.fromEntries(configs.map((c) => [c.name, { pid: c.server.pid, port: c.server.port, workers: c.workerPids, connections: c.spread, connectRetries: c.connectRetries }])),
    results,
    errors: totalErrors,
    serverProblems: Object.fromEntries(configs.map((c) => [c.name, { count: c.server.problemCount, first: c.server.problems }])),
  };
  writeFileSync(path.join(here, 'results', 'workers.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(path.join(here, 'results', 'workers.md'), md + '\n');
  log(`\nwrote bench/results/workers.json and bench/results/workers.md`);
  return totalErrors ? 1 : 0;
}

/** Rejects when `fn()` takes longer than `ms`. */
function within(ms, what, fn) {
  let timer;
  return Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  (e) => void bail(1, e?.stack ?? String(e)),
);

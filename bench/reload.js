#!/usr/bin/env node
// Hot-reload benchmark: how fast an edit goes live, and what reloading costs a
// server under steady load. The server is the real CLI (`node bin/sockey.js serve`,
// the built dist) as a child process on 127.0.0.1; clients run here.
//
//   npm run build && node bench/reload.js
//   node bench/reload.js --edits 5 --rounds 1 --duration 3     (a quick look)
//
// 1. edit-to-live, for manifests of 10 and 500 routes (params schemas, a mix of
//    reply and sql): the time from writeFileSync of the manifest to the first ack
//    that shows the new version (chokidar, the 30 ms debounce and the rebuild included).
// 2. throughput: 16 clients in a closed ack loop on a cheap route for 10 s, with the
//    manifest rewritten every second, against the same load with no rewrites,
//    rounds alternating; the % lost.
// 3. where a reload's time goes: the phases of buildVersion, timed in-process.
// Bars: median edit-to-live < 300 ms at 500 routes; < 5 % throughput lost.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { io as connect } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const HELP = `Usage: node bench/reload.js [options]   (run "npm run build" first)

  --sizes LIST     route counts for edit-to-live (default 10,500)
  --edits N        measured edits per size (default 20)
  --duration S     seconds per throughput round (default 10)
  --rounds N       throughput pairs (no rewrites, rewrites), alternating (default 5)
  --clients N      closed-loop clients for throughput (default 16)
  --load-routes L  manifest sizes for the throughput rounds (default 10,500)
  --retries N      redo a pair when other processes used > 25 % of a core during it (default 1);
                   each pair also waits (up to 60 s) for a quiet second first
  --limit S        give up after S seconds in all (default 900)
  --only X         edit | profile | throughput (default: all three)

BENCH_NODE_ARGS    extra node flags for the server child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  -h, --help
`;
const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string' },
    edits: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    clients: { type: 'string' },
    'load-routes': { type: 'string' },
    retries: { type: 'string' },
    limit: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const opts = {
  sizes: (flags.sizes ?? '10,500').split(',').map(Number),
  edits: Number(flags.edits ?? 20),
  durationS: Number(flags.duration ?? 10),
  rounds: Number(flags.rounds ?? 5),
  clients: Number(flags.clients ?? 16),
  loadRoutes: (flags['load-routes'] ?? '10,500').split(',').map(Number),
  retries: Number(flags.retries ?? 1),
  limitS: Number(flags.limit ?? 900),
  only: flags.only ?? 'all',
};
for (const [k, v] of Object.entries(opts)) {
  if (k === 'only' ? !['all', 'edit', 'profile', 'throughput'].includes(v) : Array.isArray(v) ? v.some((n) => !Number.isInteger(n) || n < 1 || n > 5000) : !(Number(v) >= 0)) {
    process.stderr.write(`bench: bad --${k}\n\n${HELP}`);
    process.exit(2);
  }
}

// ------------------------------------------------------------ cleanup and limits

const children = new Set();
const dirs = new Set();
const sockets = new Set();
function cleanup() {
  for (const s of sockets) s.disconnect();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
function bail(code, why) {
  process.stderr.write(`bench: ${why}\n`);
  cleanup();
  process.exit(code);
}
process.on('SIGINT', () => bail(130, 'interrupted'));
process.on('SIGTERM', () => bail(143, 'terminated'));
process.on('exit', cleanup);
const limit = setTimeout(() => bail(3, `time limit of ${opts.limitS} s reached`), opts.limitS * 1000);
limit.unref();

// ------------------------------------------------------------ the manifest

/** N routes: params schemas on every one, half reply templates, half SQL (a table read or a computed row). */
function manifest(n, version, { loadRoute = false } = {}) {
  const lines = [
    'version: 1',
    'server: { playground: false }',
    'database: { driver: sqlite, file: ./data/bench.db, schema: [./schema.sql], migrate: true }',
    'auth: { enabled: false }',
    'routes:',
    `  probe: { reply: { v: ${version} } }`,
  ];
  if (loadRoute) lines.push('  ping: { reply: pong }');
  for (let i = 0; i < n - 1 - (loadRoute ? 1 : 0); i++) {
    lines.push(
      `  r${i}:`,
      '    params:',
      '      type: object',
      '      properties:',
      `        id: { type: integer, minimum: 1, maximum: ${1000 + i} }`,
      '        name: { type: string, minLength: 1, maxLength: 64 }',
      '        tags: { type: array, items: { type: string }, maxItems: 8 }',
      '      required: [id]',
      '      additionalProperties: false',
    );
    if (i % 3 === 0) lines.push('    reply: { id: "{{params.id}}", name: "{{params.name}}", route: ' + i + ' }');
    else if (i % 3 === 1) lines.push('    sql: SELECT id, label FROM items WHERE id = :id', '    result: row');
    else lines.push(`    sql: SELECT :id * ${i} AS product, :name AS name`, '    result: row');
  }
  return lines.join('\n') + '\n';
}
const SCHEMA = 'CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, label TEXT NOT NULL);\n';

function appDir(text) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sockey-reload-bench-'));
  dirs.add(dir);
  mkdirSync(path.join(dir, 'data'));
  writeFileSync(path.join(dir, 'schema.sql'), SCHEMA);
  writeFileSync(path.join(dir, 'sockey.yaml'), text);
  return dir;
}

// ------------------------------------------------------------ the server (CLI child)

async function startServer(dir) {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/sockey.js'), 'serve', 'sockey.yaml', '--port', '0', '--host', '127.0.0.1', '--log', 'json'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const logs = [];
  let partial = '';
  child.stderr.on('data', (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    for (const l of parts) {
      try {
        logs.push(JSON.parse(l));
      } catch {
        logs.push({ msg: l });
      }
    }
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 20 s')), 20_000);
    const check = () => {
      const m = logs.map((l) => /sockey listening on (http:\/\/[\d.]+:\d+)/.exec(String(l.msg))?.[1]).find(Boolean);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`server exited: ${logs.map((l) => l.msg).join('\n')}`));
      } else setTimeout(check, 10);
    };
    check();
  });
  return {
    child,
    url,
    logs,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
      children.delete(child);
    },
  };
}

async function client(url) {
  const s = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  sockets.add(s);
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('connect_error', reject);
  });
  return s;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ack = (s, event, payload) => s.timeout(5000).emitWithAck(event, payload);

/** Calls probe in a closed loop until it answers version v; resolves with the time of that reply. */
async function untilVersion(s, v, timeoutMs = 10_000) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const r = await ack(s, 'probe', {});
    if (r?.res?.v === v) return performance.now();
    if (performance.now() > end) throw new Error(`version ${v} not live within ${timeoutMs} ms (serving ${JSON.stringify(r?.res)})`);
  }
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (i - lo);
}
const sortNum = (a) => [...a].sort((x, y) => x - y);
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

// ------------------------------------------------------------ 1. edit-to-live

async function editToLive(n) {
  let version = 0;
  const dir = appDir(manifest(n, version));
  const file = path.join(dir, 'sockey.yaml');
  const server = await startServer(dir);
  try {
    const s = await client(server.url);
    // The watcher attaches after "listening": rewrite until an edit is seen (not measured).
    version++;
    for (let tries = 0; ; tries++) {
      writeFileSync(file, manifest(n, version));
      try {
        await untilVersion(s, version, 1000);
        break;
      } catch (e) {
        if (tries > 10) throw e;
      }
    }
    const times = [];
    const serverMs = [];
    for (let i = 0; i < opts.edits; i++) {
      await sleep(150); // past chokidar's 50 ms per-file change throttle, and a quiet server
      version++;
      const before = server.logs.length;
      const text = manifest(n, version);
      const t0 = performance.now();
      writeFileSync(file, text);
      const t1 = await untilVersion(s, version);
      times.push(t1 - t0);
      await sleep(20);
      const line = server.logs
        .slice(before)
        .map((l) => /^reloaded \(.*\) in (\d+) ms/.exec(String(l.msg))?.[1])
        .find(Boolean);
      if (line) serverMs.push(Number(line));
    }
    s.disconnect();
    sockets.delete(s);
    const sorted = sortNum(times);
    const sortedServer = sortNum(serverMs);
    return {
      n,
      edits: times.length,
      median: quantile(sorted, 0.5),
      p90: quantile(sorted, 0.9),
      max: sorted.at(-1),
      min: sorted[0],
      serverMedian: quantile(sortedServer, 0.5),
      manifestKb: Buffer.byteLength(manifest(n, 0)) / 1024,
    };
  } finally {
    await server.stop();
  }
}

// ------------------------------------------------------------ 2. throughput under reloads

/** CPU jiffies (1/100 s) used by the whole machine and by the given pids. */
function cpuSample(pids) {
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = all.reduce((a, b) => a + b, 0) - all[3] - (all[4] ?? 0); // minus idle and iowait
  let ours = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ours += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      /* gone */
    }
  }
  return { busy, ours };
}

async function loadRound(server, clients, withReloads, state, routes) {
  const file = path.join(server.dir, 'sockey.yaml');
  let running = true;
  let calls = 0;
  let failed = 0;
  const latencies = [];
  const reloadsBefore = server.logs.filter((l) => String(l.msg).startsWith('reloaded (')).length;
  const cpu0 = cpuSample([process.pid, server.child.pid]);
  const t0 = performance.now();
  const loops = clients.map(async (s) => {
    while (running) {
      const a = performance.now();
      try {
        const r = await ack(s, 'ping', {});
        if (r?.ok) calls++;
        else failed++;
      } catch {
        failed++;
      }
      latencies.push(performance.now() - a);
    }
  });
  let rewrites = 0;
  const rewriter = (async () => {
    if (!withReloads) return;
    while (running) {
      await sleep(1000);
      if (!running) break;
      state.version++;
      writeFileSync(file, manifest(routes, state.version, { loadRoute: true }));
      rewrites++;
    }
  })();
  await sleep(opts.durationS * 1000);
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  await Promise.all([...loops, rewriter]);
  const cpu1 = cpuSample([process.pid, server.child.pid]);
  await sleep(300); // let the last reload land before counting
  const reloadLines = server.logs.filter((l) => String(l.msg).startsWith('reloaded (')).slice(reloadsBefore);
  const reloads = reloadLines.length;
  // The rebuild runs on the server's event loop: its logged time is time no message is served.
  const rebuildMs = reloadLines.reduce((a, l) => a + Number(/ in (\d+) ms/.exec(String(l.msg))?.[1] ?? 0), 0);
  const others = (cpu1.busy - cpu0.busy - (cpu1.ours - cpu0.ours)) / (elapsed * 100); // cores used by other processes
  const sorted = sortNum(latencies);
  return { withReloads, rate: calls / elapsed, failed, rewrites, reloads, blocked: rebuildMs / (elapsed * 1000), p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1), others };
}

/** Waits (up to 60 s) for a second in which other processes used < 0.2 of a core: this machine is shared. */
async function waitQuiet(pids) {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const a = cpuSample(pids);
    await sleep(1000);
    const b = cpuSample(pids);
    if ((b.busy - a.busy - (b.ours - a.ours)) / 100 < 0.2) return true;
  }
  return false;
}

async function throughput(routes) {
  const state = { version: 0 };
  const dir = appDir(manifest(routes, 0, { loadRoute: true }));
  const server = Object.assign(await startServer(dir), { dir });
  try {
    const clients = await Promise.all(Array.from({ length: opts.clients }, () => client(server.url)));
    // Warm up (JIT, sockets) and make sure the watcher is attached.
    state.version++;
    writeFileSync(path.join(dir, 'sockey.yaml'), manifest(routes, state.version, { loadRoute: true }));
    await untilVersion(clients[0], state.version).catch(async () => {
      writeFileSync(path.join(dir, 'sockey.yaml'), manifest(routes, state.version, { loadRoute: true }));
      await untilVersion(clients[0], state.version);
    });
    const warm = Date.now() + 2000;
    await Promise.all(
      clients.map(async (s) => {
        while (Date.now() < warm) await ack(s, 'ping', {});
      }),
    );
    const pairs = [];
    for (let i = 0; i < opts.rounds; i++) {
      let pair;
      for (let attempt = 0; attempt <= opts.retries; attempt++) {
        await waitQuiet([process.pid, server.child.pid]);
        // Alternate which goes first, so a drift (thermal, other load) does not favour one.
        const order = i % 2 === 0 ? [false, true] : [true, false];
        const a = await loadRound(server, clients, order[0], state, routes);
        const b = await loadRound(server, clients, order[1], state, routes);
        pair = order[0] ? { reload: a, base: b } : { base: a, reload: b };
        const noisy = Math.max(a.others, b.others) > 0.25;
        process.stderr.write(
          `  ${routes} routes, pair ${i + 1}${attempt ? ` (retry ${attempt})` : ''}: base ${fmt(pair.base.rate)}/s, reloading ${fmt(pair.reload.rate)}/s, ${pair.reload.reloads} reloads, others used ${fmt(a.others, 2)}/${fmt(b.others, 2)} cores${noisy && attempt < opts.retries ? ' - noisy, again' : ''}\n`,
        );
        if (!noisy) break;
      }
      pairs.push({ ...pair, others: Math.max(pair.base.others, pair.reload.others) });
    }
    for (const s of clients) {
      s.disconnect();
      sockets.delete(s);
    }
    return pairs;
  } finally {
    await server.stop();
  }
}

// ------------------------------------------------------------ 3. where a reload's time goes

async function phases(n, iterations = 15) {
  const { loadManifest } = await import('../dist/manifest/load.js');
  const { readSettings, compileSource } = await import('../dist/compile/table.js');
  const { migrate } = await import('../dist/db/migrate.js');
  const { buildVersion } = await import('../dist/pipeline/build.js');
  const { defaultPlugins } = await import('../dist/cli/plugins.js');
  const dir = appDir(manifest(n, 0));
  const log = pino({ level: 'silent' });
  const plugins = defaultPlugins();
  const env = process.env;
  const first = await buildVersion({ manifestPath: 'sockey.yaml', cwd: dir, env, plugins, log });
  const db = first.db;
  const builtins = plugins[0].builtins;
  const t = { load: [], settings: [], migrate: [], compile: [], total: [] };
  try {
    for (let i = 0; i < iterations + 3; i++) {
      writeFileSync(path.join(dir, 'sockey.yaml'), manifest(n, i + 1));
      const a = performance.now();
      const loaded = loadManifest('sockey.yaml', dir);
      const b = performance.now();
      const pre = readSettings(loaded.source, { env, strictEnv: true });
      const c = performance.now();
      await migrate(db, pre.settings.database.schema);
      const d = performance.now();
      await compileSource(loaded.source, { driver: db, env, strictEnv: true, builtins });
      const e = performance.now();
      const v = await buildVersion({ manifestPath: 'sockey.yaml', cwd: dir, env, plugins, log, previous: first });
      const f = performance.now();
      if (v.db !== db) throw new Error('expected the database to be reused');
      if (i < 3) continue; // warm-up
      t.load.push(b - a);
      t.settings.push(c - b);
      t.migrate.push(d - c);
      t.compile.push(e - d);
      t.total.push(f - e);
    }
  } finally {
    await db.close();
  }
  const med = (a) => quantile(sortNum(a), 0.5);
  return { n, load: med(t.load), settings: med(t.settings), migrate: med(t.migrate), compile: med(t.compile), total: med(t.total) };
}

// ------------------------------------------------------------ run

const started = Date.now();
process.stderr.write(`reload bench: node ${process.version}, ${os.cpus().length} CPU(s), ${os.cpus()[0]?.model ?? ''}\n`);

const edit = [];
for (const n of opts.only === 'all' || opts.only === 'edit' ? opts.sizes : []) {
  process.stderr.write(`edit-to-live, ${n} routes, ${opts.edits} edits...\n`);
  edit.push(await editToLive(n));
}
const profile = [];
for (const n of opts.only === 'all' || opts.only === 'profile' ? opts.sizes : []) profile.push(await phases(n));
const loads = [];
for (const routes of opts.rounds > 0 && (opts.only === 'all' || opts.only === 'throughput') ? opts.loadRoutes : []) {
  process.stderr.write(`throughput: ${opts.clients} clients, ${opts.durationS} s rounds, ${opts.rounds} pair(s), ${routes}-route manifest rewritten every second...\n`);
  loads.push({ routes, pairs: await throughput(routes) });
}

const out = [];
if (edit.length) {
  out.push('Edit-to-live (write -> first ack showing the new version)');
  out.push('| routes | manifest | edits | median ms | p90 ms | min ms | max ms | server rebuild (median, logged) | bar |');
  out.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of edit)
    out.push(
      `| ${r.n} | ${fmt(r.manifestKb, 0)} kB | ${r.edits} | ${fmt(r.median)} | ${fmt(r.p90)} | ${fmt(r.min)} | ${fmt(r.max)} | ${fmt(r.serverMedian)} ms | ${r.n >= 500 ? (r.median < 300 ? 'ok (< 300)' : 'MISSED (>= 300)') : ''} |`,
    );
  out.push('');
}
if (profile.length) {
  out.push('Where the rebuild goes (in-process, median of 15, ms)');
  out.push('| routes | load+parse YAML | settings | migrate | compile (schema check, ajv, SQL, templates) | buildVersion total |');
  out.push('|---:|---:|---:|---:|---:|---:|');
  for (const p of profile) out.push(`| ${p.n} | ${fmt(p.load, 1)} | ${fmt(p.settings, 1)} | ${fmt(p.migrate, 1)} | ${fmt(p.compile, 1)} | ${fmt(p.total, 1)} |`);
}
for (const { routes, pairs } of loads) {
  out.push('');
  out.push(`Throughput, ${opts.clients} clients closed loop on "ping", ${opts.durationS} s per round, ${routes}-route manifest`);
  out.push(
    "| pair | no rewrites (calls/s) | rewrite every 1 s (calls/s) | reloads/rewrites | lost | rebuild share of the server's time | failed calls | p50 / p99 / max ms, no rewrites | p50 / p99 / max ms, rewriting | other processes (cores) |",
  );
  out.push('|---:|---:|---:|---:|---:|---:|---:|---|---|---:|');
  pairs.forEach((p, i) => {
    const lost = (1 - p.reload.rate / p.base.rate) * 100;
    out.push(
      `| ${i + 1} | ${fmt(p.base.rate)} | ${fmt(p.reload.rate)} | ${p.reload.reloads}/${p.reload.rewrites} | ${fmt(lost, 1)} % | ${fmt(p.reload.blocked * 100, 1)} % | ${p.base.failed + p.reload.failed} | ${fmt(p.base.p50, 2)} / ${fmt(p.base.p99, 2)} / ${fmt(p.base.max, 0)} | ${fmt(p.reload.p50, 2)} / ${fmt(p.reload.p99, 2)} / ${fmt(p.reload.max, 0)} | ${fmt(p.others, 2)} |`,
    );
  });
  const losses = pairs.map((p) => (1 - p.reload.rate / p.base.rate) * 100);
  const quiet = pairs.filter((p) => p.others < 0.25).map((p) => (1 - p.reload.rate / p.base.rate) * 100);
  const median = quantile(sortNum(losses), 0.5);
  const quietMedian = quantile(sortNum(quiet), 0.5);
  const verdict = (x) => (Number.isFinite(x) ? (x < 5 ? 'ok (< 5 %)' : 'MISSED (>= 5 %)') : '');
  out.push(`| median | | | | **${fmt(median, 1)} %** ${verdict(median)} | ${fmt(quantile(sortNum(pairs.map((p) => p.reload.blocked * 100)), 0.5), 1)} % | | | | |`);
  out.push(`| median, quiet pairs only (${quiet.length}) | | | | ${fmt(quietMedian, 1)} % ${verdict(quietMedian)} | | | | | |`);
}
out.push('');
out.push(`(${((Date.now() - started) / 1000).toFixed(0)} s, node ${process.version}, ${os.cpus().length} CPU(s))`);
process.stdout.write(out.join('\n') + '\n');
clearTimeout(limit);
cleanup();

#!/usr/bin/env node
// Where the servers' CPU goes, per request, from the --cpu-prof profiles of a bench run:
//
//   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval=200" \
//     node bench/run.js --scenario hook
//   node bench/profile.js /tmp/prof            # reads bench/results/latest.json of that run
//   node bench/profile.js /tmp/prof other.json --top 30
//
// Each profile (a server process's main thread; its pid is in the file name) is cut to the
// measured windows of that server's rounds (latest.json records them on the monotonic
// clock the profiles use), and its self time is divided by the requests completed in them.
// Side by side for sockey and the hand-written server: per package / module, then the
// functions that cost the most. Profiling itself inflates every figure; compare the two
// columns, not the absolute numbers with a run without --cpu-prof.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' }, help: { type: 'boolean', short: 'h' } } });
if (values.help || positionals.length === 0) {
  process.stdout.write('Usage: node bench/profile.js <profile-dir> [results.json (default bench/results/latest.json)] [--top N]\n');
  process.exit(values.help ? 0 : 2);
}
const [dir, resultsFile = path.join(here, 'results', 'latest.json')] = positionals;
const top = Number(values.top);
const run = JSON.parse(readFileSync(resultsFile, 'utf8'));
if (!run.servers) {
  process.stderr.write(`${resultsFile} has no server pids (written by an older bench/run.js)\n`);
  process.exit(2);
}
const labelOfPid = new Map(Object.entries(run.servers).map(([label, s]) => [s.pid, label]));

// Main-thread profiles of the run's servers: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
const profiles = new Map(); // label -> file
for (const f of readdirSync(dir)) {
  const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(f);
  if (m && m[2] === '0' && labelOfPid.has(Number(m[1]))) profiles.set(labelOfPid.get(Number(m[1])), path.join(dir, f));
}
if (profiles.size === 0) {
  process.stderr.write(`no profile in ${dir} belongs to the servers of ${resultsFile} (pids ${[...labelOfPid.keys()].join(', ')})\n`);
  process.exit(1);
}

const SOCKET_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String']);
const rootPrefix = 'file://' + root + '/';

/** A package, a node module, sockey's own code (dist/) or the bench's own code. */
function packageOf(url) {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node (internal)' : url;
  const rel = url.startsWith(rootPrefix) ? url.slice(rootPrefix.length) : url.startsWith(root + '/') ? url.slice(root.length + 1) : undefined;
  if (rel?.startsWith('dist/')) return 'sockey (dist/)';
  if (rel?.startsWith('bench/')) return 'bench/ (handwritten.js, hooks)';
  return url ? 'other' : '';
}

function shortUrl(url) {
  return url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\//, '')
    .replace(root + '/', '');
}

/** Self µs by package and by function inside the windows; the busy total. */
function analyse(file, windows) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const category = new Map();
  const categoryOf = (id) => {
    let c = category.get(id);
    if (c !== undefined) return c;
    const n = byId.get(id);
    const name = n.callFrame.functionName;
    if (name === '(garbage collector)') c = 'GC';
    else if (name === '(program)') c = '(program): V8/native outside JS';
    else if (!n.callFrame.url && SOCKET_WRITES.has(name)) c = 'socket writes (native writev/writeBuffer)';
    else if (n.callFrame.url) c = packageOf(n.callFrame.url);
    else c = parent.has(id) ? categoryOf(parent.get(id)) : 'native';
    if (c === '') c = 'native';
    category.set(id, c);
    return c;
  };
  const byCategory = new Map();
  const byFunction = new Map();
  let busy = 0;
  let t = p.startTime;
  const times = p.timeDeltas.map((d) => (t += d));
  const sorted = [...windows].sort((a, b) => a[0] - b[0]);
  let w = 0;
  for (let i = 0; i + 1 < times.length; i++) {
    const at = times[i];
    while (w < sorted.length && at > sorted[w][1]) w++;
    if (w >= sorted.length) break;
    if (at < sorted[w][0]) continue;
    const n = byId.get(p.samples[i]);
    const name = n.callFrame.functionName;
    if (name === '(idle)') continue;
    const d = times[i + 1] - at;
    busy += d;
    const c = categoryOf(n.id);
    byCategory.set(c, (byCategory.get(c) ?? 0) + d);
    const key = `${name || '(anonymous)'}  ${shortUrl(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + d);
  }
  return { busy, byCategory, byFunction, covered: sorted.length };
}

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
for (const [name, r] of Object.entries(run.results)) {
  const sides = {};
  for (const role of ['sockey', 'hand-written']) {
    const label = r[role]?.process ?? role;
    const file = profiles.get(label);
    if (!file || !r[role]?.rounds) continue;
    const windows = r[role].rounds.map((x) => x.windowUs);
    const completed = r[role].rounds.reduce((a, x) => a + x.completed, 0);
    const cpuMs = r[role].rounds.reduce((a, x) => a + (x.serverCpuMs ?? 0), 0);
    sides[role] = { ...analyse(file, windows), completed, cpuMs, file };
  }
  if (!sides.sockey || !sides['hand-written']) {
    process.stdout.write(`\n== ${name}: no profile of both servers\n`);
    continue;
  }
  const s = sides.sockey;
  const h = sides['hand-written'];
  const per = (side, us) => us / side.completed;
  process.stdout.write(`\n== ${name}: µs of main-thread CPU per request, measured windows only (sockey ${s.completed} requests, hand-written ${h.completed})\n`);
  process.stdout.write(
    `   profiled busy time ${fmt(per(s, s.busy))} vs ${fmt(per(h, h.busy))} µs/request; /proc CPU of the process (all threads, user+sys) ${fmt((1000 * s.cpuMs) / s.completed)} vs ${fmt((1000 * h.cpuMs) / h.completed)}\n\n`,
  );
  const cats = [...new Set([...s.byCategory.keys(), ...h.byCategory.keys()])].sort(
    (a, b) => (s.byCategory.get(b) ?? 0) + (h.byCategory.get(b) ?? 0) - (s.byCategory.get(a) ?? 0) - (h.byCategory.get(a) ?? 0),
  );
  process.stdout.write(`   ${'package / module'.padEnd(44)} ${'sockey'.padStart(8)} ${'hand'.padStart(8)} ${'diff'.padStart(8)}\n`);
  for (const c of cats) {
    const a = per(s, s.byCategory.get(c) ?? 0);
    const b = per(h, h.byCategory.get(c) ?? 0);
    if (a < 0.05 && b < 0.05) continue;
    process.stdout.write(`   ${c.padEnd(44)} ${fmt(a).padStart(8)} ${fmt(b).padStart(8)} ${(a - b >= 0 ? '+' : '') + fmt(a - b).padStart(7)}\n`);
  }
  process.stdout.write(
    `   ${'total'.padEnd(44)} ${fmt(per(s, s.busy)).padStart(8)} ${fmt(per(h, h.busy)).padStart(8)} ${(s.busy / s.completed - h.busy / h.completed >= 0 ? '+' : '') + fmt(per(s, s.busy) - per(h, h.busy)).padStart(7)}\n`,
  );
  for (const [role, side] of [
    ['sockey', s],
    ['hand-written', h],
  ]) {
    process.stdout.write(`\n   top ${top} functions (self), ${role}:\n`);
    for (const [k, v] of [...side.byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`   ${fmt(per(side, v)).padStart(8)}  ${k}\n`);
  }
  // What sockey runs that the hand-written server does not: its own functions, all of them.
  const own = [...s.byFunction].filter(([k]) => /\sdist\//.test(k) && !k.includes('node_modules')).sort((a, b) => b[1] - a[1]);
  const ownTotal = own.reduce((a, [, v]) => a + v, 0);
  process.stdout.write(`\n   sockey's own functions (dist/), self: ${fmt(per(s, ownTotal))} µs/request\n`);
  for (const [k, v] of own.slice(0, top)) process.stdout.write(`   ${fmt(per(s, v)).padStart(8)}  ${k}\n`);
}

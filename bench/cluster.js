#!/usr/bin/env node
// The cluster benchmark (issue 11): what `cluster:` costs and which Redis adapter.
//
//   npm run bench:cluster                                  # build, then everything with the defaults (~3 min)
//   node bench/cluster.js --rounds 5 --duration 3          # steadier
//   node bench/cluster.js --help
//
// Fan-out: --receivers (1,000) sockets join room r, spread round-robin over the nodes
// of a configuration; one sender socket on node 0 calls room.send (an emit to the
// room, then the ack), keeping --window (4) messages in flight: message k + window is
// sent once every receiver has message k. Counted: deliveries per second, and the
// latency from the send to each receipt (all in this process, one clock), split into
// same-node (receivers on node 0) and cross-node (the others). Configurations:
//   sockey-1        one sockey node, no cluster:
//   sockey-2        two sockey nodes, cluster: on one Redis (the streams adapter)
//   streams-2       two hand-written socket.io nodes (bench/cluster-pair.js), @socket.io/redis-streams-adapter
//   pubsub-2        the same with @socket.io/redis-adapter (Redis pub/sub)
// Echo: --clients (32) sockets call echo in a closed loop (a self-reply) on sockey-1
// and on node 0 of sockey-2: cluster: on vs off, bar >= 0.97x.
//
// Needs Redis (BENCH_REDIS_URL or --redis, default redis://127.0.0.1:6379); every key
// goes under a fresh prefix sockey_bench_cluster_<random>, deleted at the end. Uses
// the built dist/ (npm run build first; npm run bench:cluster does).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { io as connect } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');

const { values } = parseArgs({
  options: {
    receivers: { type: 'string', default: '1000' },
    window: { type: 'string', default: '4' },
    clients: { type: 'string', default: '32' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    redis: { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    scenario: { type: 'string', default: 'fanout,echo' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 24)
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  process.exit(0);
}
const num = (name) => {
  const n = Number(values[name]);
  if (!(n > 0)) {
    console.error(`--${name} must be a positive number, got "${values[name]}"`);
    process.exit(2);
  }
  return n;
};
const RECEIVERS = num('receivers');
const WINDOW = num('window');
const CLIENTS = num('clients');
const DURATION_MS = num('duration') * 1000;
const WARMUP_MS = Number(values.warmup) * 1000;
const ROUNDS = num('rounds');
const SCENARIOS = new Set(values.scenario.split(','));
const LOST_MS = 5000;

const prefix = `sockey_bench_cluster_${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(path.join(tmpdir(), 'sockey-bench-cluster-'));
const children = new Set();
let cleaning = false;

// ---------------------------------------------------------------- setup

const ROUTES = `
routes:
  echo:
    params: { type: object, properties: { text: { type: string, maxLength: 1000 } }, required: [text], additionalProperties: false }
    reply: "{{params}}"
  room.join:
    join: r
    reply: { joined: r }
  room.send:
    params: { type: object, properties: { text: { type: string, maxLength: 1000 }, k: { type: integer } }, required: [text, k], additionalProperties: false }
    reply: "{{params}}"
    emit: { to: room, room: r }
`;
const head = `version: 1
server: { playground: false }
database: { driver: sqlite, file: ./bench.db }
`;
writeFileSync(path.join(dir, 'single.yaml'), head + ROUTES);
writeFileSync(path.join(dir, 'cluster.yaml'), `${head}cluster: { redis: "${values.redis}", prefix: ${prefix}_sk }\n${ROUTES}`);

function log(line) {
  process.stdout.write(line + '\n');
}

/** Starts a child and resolves with { pid, port, stop } once `ready(line)` finds the port. */
function start(label, args, ready) {
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, SOCKEY_PORT: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = {
    label,
    pid: child.pid,
    stop: () => child.exitCode === null && child.signalCode === null && child.kill('SIGTERM'),
    exited: new Promise((r) => child.once('exit', r)),
  };
  children.add(handle);
  return new Promise((resolve, reject) => {
    let done = false;
    const tail = [];
    const timer = setTimeout(() => fail(new Error(`${label} did not start within 15 s`)), 15_000);
    const fail = (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${e.message}\n${tail.join('\n')}`));
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          tail.push(line);
          if (tail.length > 30) tail.shift();
          if (!done) {
            const port = ready(line);
            if (port) {
              done = true;
              clearTimeout(timer);
              resolve(Object.assign(handle, { port }));
            }
          } else if (/"level":(40|50|60)|^redis:|Error/.test(line)) log(`  [${label}] ${line}`);
        }
      });
    }
    child.once('exit', (code, signal) => {
      children.delete(handle);
      if (!done) fail(new Error(`${label} exited (${signal ?? code}) before listening`));
      else if (!cleaning) log(`  [${label}] exited unexpectedly (${signal ?? code})`);
    });
  });
}

const sockeyNode = (label, manifest) =>
  start(label, [path.join(root, 'bin', 'sockey.js'), 'serve', manifest, '--port', '0', '--host', '127.0.0.1', '--log', 'json', '--no-watch'], (line) => {
    try {
      const m = /^sockey listening on http:\/\/[^\s]+:(\d+) \(/.exec(JSON.parse(line).msg ?? '');
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  });
const pairNode = (label, adapter, p) =>
  start(label, [path.join(here, 'cluster-pair.js'), '--adapter', adapter, '--redis', values.redis, '--prefix', p, '--port', '0'], (line) => {
    const m = /^listening on (\d+)$/.exec(line);
    return m ? Number(m[1]) : undefined;
  });

async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  for (const c of children) c.stop();
  await Promise.race([Promise.all([...children].map((c) => c.exited)), new Promise((r) => setTimeout(r, 3000))]);
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  try {
    const r = createClient({ url: values.redis });
    r.on('error', () => undefined);
    await r.connect();
    const keys = [];
    for await (const batch of r.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) keys.push(...batch);
    if (keys.length) await r.del(keys);
    await r.close();
  } catch (e) {
    log(`could not delete the keys ${prefix}*: ${e.message}`);
  }
  rmSync(dir, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

// ---------------------------------------------------------------- measuring

const CLK_TCK = 100;
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

async function openSockets(ports, n) {
  const sockets = [];
  // In batches: a thousand handshakes at once on two cores time out.
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, j) => {
        const node = (i + j) % ports.length;
        const s = connect(`http://127.0.0.1:${ports[node]}`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000 });
        s.node = node;
        sockets.push(s);
        return new Promise((resolve, reject) => {
          s.once('connect', resolve);
          s.once('connect_error', reject);
        });
      }),
    );
  }
  return sockets;
}

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** One fan-out round on one configuration: see the header. */
async function fanoutRound(config) {
  const ports = config.nodes.map((n) => n.port);
  const receivers = await openSockets(ports, RECEIVERS);
  await Promise.all(receivers.map((s) => s.timeout(10_000).emitWithAck('room.join', {})));
  const [sender] = await openSockets([ports[0]], 1);
  const sent = new Map(); // k -> { at, left, timer }
  let measuring = false;
  let delivered = 0;
  let lost = 0;
  let wake = () => {};
  const same = [];
  const cross = [];
  const settle = (k) => {
    const m = sent.get(k);
    if (!m) return;
    clearTimeout(m.timer);
    sent.delete(k);
    wake();
  };
  for (const s of receivers) {
    s.on('room.send_data', (env) => {
      const now = performance.now();
      const m = sent.get(env?.res?.k);
      if (!m) return;
      if (m.measured) {
        (s.node === 0 ? same : cross).push(now - m.at);
      }
      if (measuring) delivered++;
      if (--m.left === 0) settle(env.res.k);
    });
  }
  const t0 = performance.now();
  const from = t0 + WARMUP_MS;
  const to = from + DURATION_MS;
  let cpuFrom;
  let k = 0;
  const marks = setTimeout(() => {
    measuring = true;
    cpuFrom = config.nodes.map((n) => cpuMs(n.pid));
  }, WARMUP_MS);
  while (performance.now() < to) {
    while (sent.size >= WINDOW) await new Promise((r) => (wake = r));
    const now = performance.now();
    if (now >= to) break;
    const key = k++;
    const timer = setTimeout(() => {
      lost++;
      settle(key);
    }, LOST_MS);
    sent.set(key, { at: now, left: receivers.length, measured: now >= from, timer });
    sender.emit('room.send', { text: 'hello', k: key });
  }
  measuring = false;
  clearTimeout(marks);
  const cpu = config.nodes.reduce((sum, n, i) => sum + cpuMs(n.pid) - (cpuFrom?.[i] ?? 0), 0);
  while (sent.size) await new Promise((r) => (wake = r));
  for (const s of [...receivers, sender]) s.disconnect();
  same.sort((a, b) => a - b);
  cross.sort((a, b) => a - b);
  return {
    rate: (delivered / DURATION_MS) * 1000,
    sameP50: percentile(same, 0.5),
    sameP99: percentile(same, 0.99),
    crossP50: percentile(cross, 0.5),
    crossP99: percentile(cross, 0.99),
    usPerDelivery: (cpu * 1000) / Math.max(1, delivered),
    lost,
  };
}

/** One echo round: CLIENTS closed loops on one node. */
async function echoRound(node) {
  const sockets = await openSockets([node.port], CLIENTS);
  const t0 = performance.now();
  const from = t0 + WARMUP_MS;
  const to = from + DURATION_MS;
  let acks = 0;
  let errors = 0;
  let cpuFrom;
  const marks = setTimeout(() => (cpuFrom = cpuMs(node.pid)), WARMUP_MS);
  await Promise.all(
    sockets.map(async (s) => {
      while (performance.now() < to) {
        const r = await s.timeout(5000).emitWithAck('echo', { text: 'hello' });
        const now = performance.now();
        if (r?.ok !== true || r.res?.text !== 'hello') errors++;
        else if (now >= from && now < to) acks++;
      }
    }),
  );
  clearTimeout(marks);
  const cpu = cpuMs(node.pid) - cpuFrom;
  for (const s of sockets) s.disconnect();
  return { rate: (acks / DURATION_MS) * 1000, usPerMsg: (cpu * 1000) / Math.max(1, acks), errors };
}

// ---------------------------------------------------------------- main

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const int = (x) => Math.round(x).toLocaleString('en-US');

async function main() {
  log(
    `cluster bench: ${RECEIVERS} receivers, window ${WINDOW}, ${ROUNDS} x ${DURATION_MS / 1000} s rounds (+${WARMUP_MS / 1000} s warm-up), Redis ${values.redis}, prefix ${prefix}; load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} (the load generator and every server share this machine's cores)`,
  );
  const configs = [
    { name: 'sockey-1', what: 'one sockey node, no cluster:', nodes: [await sockeyNode('sockey-1', 'single.yaml')] },
    { name: 'sockey-2', what: 'two sockey nodes, cluster: (streams adapter)', nodes: [await sockeyNode('sockey-2a', 'cluster.yaml'), await sockeyNode('sockey-2b', 'cluster.yaml')] },
    {
      name: 'streams-2',
      what: 'two hand-written nodes, @socket.io/redis-streams-adapter',
      nodes: [await pairNode('streams-2a', 'streams', `${prefix}_hs`), await pairNode('streams-2b', 'streams', `${prefix}_hs`)],
    },
    {
      name: 'pubsub-2',
      what: 'two hand-written nodes, @socket.io/redis-adapter',
      nodes: [await pairNode('pubsub-2a', 'pubsub', `${prefix}_hp`), await pairNode('pubsub-2b', 'pubsub', `${prefix}_hp`)],
    },
  ];
  const fan = new Map(configs.map((c) => [c.name, []]));
  if (SCENARIOS.has('fanout')) {
    for (let r = 1; r <= ROUNDS; r++) {
      // Alternating order, so drift hits every configuration alike.
      const order = r % 2 ? configs : [...configs].reverse();
      for (const c of order) {
        const res = await fanoutRound(c);
        fan.get(c.name).push(res);
        log(
          `fanout ${c.name.padEnd(10)} round ${r}: ${int(res.rate).padStart(8)} deliveries/s  same-node p50 ${f(res.sameP50)} p99 ${f(res.sameP99)} ms  cross-node p50 ${f(res.crossP50)} p99 ${f(res.crossP99)} ms  server ${f(res.usPerDelivery, 1)} us/delivery${res.lost ? `  LOST ${res.lost}` : ''}  load ${loadavg()[0].toFixed(1)}`,
        );
      }
    }
  }
  const echo = { off: [], on: [] };
  if (SCENARIOS.has('echo')) {
    const off = configs[0].nodes[0];
    const on = configs[1].nodes[0];
    for (let r = 1; r <= ROUNDS; r++) {
      const pair =
        r % 2
          ? [
              ['off', off],
              ['on', on],
            ]
          : [
              ['on', on],
              ['off', off],
            ];
      for (const [k, node] of pair) {
        const res = await echoRound(node);
        echo[k].push(res);
        log(
          `echo   cluster ${k.padEnd(3)}   round ${r}: ${int(res.rate).padStart(8)} msg/s  server ${f(res.usPerMsg, 1)} us/msg${res.errors ? `  ERRORS ${res.errors}` : ''}  load ${loadavg()[0].toFixed(1)}`,
        );
      }
    }
  }

  log('');
  if (SCENARIOS.has('fanout')) {
    log(`fan-out to ${RECEIVERS} receivers (medians of the rounds)`);
    log('config      deliveries/s  same p50  same p99  cross p50  cross p99  server us/delivery  lost');
    const sum = {};
    for (const c of configs) {
      const rs = fan.get(c.name);
      const m = (key) => median(rs.map((x) => x[key]));
      sum[c.name] = { rate: m('rate'), sameP50: m('sameP50'), sameP99: m('sameP99'), crossP50: m('crossP50'), crossP99: m('crossP99'), us: m('usPerDelivery') };
      const s = sum[c.name];
      log(
        `${c.name.padEnd(10)}  ${int(s.rate).padStart(12)}  ${f(s.sameP50).padStart(8)}  ${f(s.sameP99).padStart(8)}  ${f(s.crossP50).padStart(9)}  ${f(s.crossP99).padStart(9)}  ${f(s.us, 1).padStart(18)}  ${rs.reduce((a, x) => a + x.lost, 0)}`,
      );
    }
    const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b ? `${(a / b).toFixed(2)}x` : '-');
    log('');
    log(`sockey-2 / sockey-1 deliveries/s: ${ratio(sum['sockey-2'].rate, sum['sockey-1'].rate)}; same-node p50 ${ratio(sum['sockey-2'].sameP50, sum['sockey-1'].sameP50)}`);
    log(`sockey-2 cross-node / same-node p50: ${ratio(sum['sockey-2'].crossP50, sum['sockey-2'].sameP50)}, p99: ${ratio(sum['sockey-2'].crossP99, sum['sockey-2'].sameP99)}`);
    log(
      `pubsub-2 / streams-2 (hand-written): deliveries/s ${ratio(sum['pubsub-2'].rate, sum['streams-2'].rate)}, cross-node p50 ${ratio(sum['pubsub-2'].crossP50, sum['streams-2'].crossP50)}, p99 ${ratio(sum['pubsub-2'].crossP99, sum['streams-2'].crossP99)}, same-node p50 ${ratio(sum['pubsub-2'].sameP50, sum['streams-2'].sameP50)}`,
    );
    log(
      `sockey-2 / streams-2 (sockey over the same adapter by hand): deliveries/s ${ratio(sum['sockey-2'].rate, sum['streams-2'].rate)}, cross-node p50 ${ratio(sum['sockey-2'].crossP50, sum['streams-2'].crossP50)}`,
    );
  }
  if (SCENARIOS.has('echo')) {
    const pairs = echo.on.map((x, i) => x.rate / echo.off[i].rate);
    const cpuPairs = echo.on.map((x, i) => x.usPerMsg / echo.off[i].usPerMsg);
    const r = median(pairs);
    log('');
    log(
      `echo (self-reply), cluster: on / off: throughput ${r.toFixed(3)}x (pairs ${pairs.map((p) => p.toFixed(2)).join(' / ')}; medians ${int(median(echo.on.map((x) => x.rate)))} vs ${int(median(echo.off.map((x) => x.rate)))} msg/s, ${(median(echo.on.map((x) => x.rate)) / median(echo.off.map((x) => x.rate))).toFixed(3)}x), server CPU ${median(cpuPairs).toFixed(3)}x (${f(median(echo.on.map((x) => x.usPerMsg)), 1)} vs ${f(median(echo.off.map((x) => x.usPerMsg)), 1)} us/msg): ${r >= 0.97 ? 'PASS' : 'FAIL'} (bar >= 0.97x)`,
    );
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  log(`cluster bench failed: ${e.stack ?? e}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);

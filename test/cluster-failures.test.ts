import { readFileSync } from 'node:fs';
import type { Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, type Served } from './support/child.js';
import { killRedises, privateRedis, startCluster, type PrivateRedis, type TestCluster, nodeClient, disconnectClients } from './support/cluster.js';
import { eventually } from './support/flow.js';
import { sleep } from './support/util.js';

/**
 * Issue 11: Redis failures never take a node down. Two real `sockey serve`
 * processes on a private `redis-server` of each test (a free port, no
 * persistence), which the test kills and starts again on the same port.
 */
const ROUTES = `
routes:
  say:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { text: "{{params.text}}" }
    emit: all
`;

const UNREACHABLE = 'redis is unreachable';
const REACHABLE = 'redis is reachable again';

let cluster: TestCluster | undefined;
let redis: PrivateRedis | undefined;

afterEach(async () => {
  disconnectClients();
  await cluster?.close();
  cluster = undefined;
  await redis?.stop();
  redis = undefined;
  killAll();
  killRedises();
});

const client = (node: Served) => nodeClient(node.url);

/** What a listener socket received: the text of every `say` emit and when it arrived. */
interface Heard {
  text: string;
  from: number;
  at: number;
}

function listen(s: ClientSocket): Heard[] {
  const heard: Heard[] = [];
  s.onAny((_event: string, payload: { res?: { text?: string } }) => {
    const text = payload?.res?.text;
    if (typeof text === 'string') heard.push({ text, from: Number(/^n(\d+)-/.exec(text)?.[1] ?? -1), at: Date.now() });
  });
  return heard;
}

/** Closed loops of `say` calls (one per socket), each waiting for its ack (3 s at most). */
function load(clients: Array<{ socket: ClientSocket; tag: string }>) {
  const counts = { ok: 0, errors: 0, unanswered: 0, codes: new Map<string, number>() };
  let running = true;
  const loops = clients.map(async ({ socket, tag }) => {
    let seq = 0;
    while (running) {
      try {
        const r = (await socket.timeout(3000).emitWithAck('say', { text: `${tag}-${seq++}` })) as { ok: boolean; err?: { code?: string } | false };
        if (r.ok) counts.ok++;
        else {
          counts.errors++;
          const code = (r.err && r.err.code) || 'error';
          counts.codes.set(code, (counts.codes.get(code) ?? 0) + 1);
        }
      } catch {
        counts.unanswered++;
      }
      // A closed loop without a pause would only measure how fast 2 cores spin.
      await sleep(2);
    }
  });
  return {
    counts,
    async stop() {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}

/** The process's CPU time (user + system) in ms, from /proc (Linux). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function healthz(node: Served): Promise<number> {
  return (await fetch(`${node.url}/healthz`)).status;
}

function alive(node: Served): boolean {
  return node.child.exitCode === null && node.child.signalCode === null;
}

/** Resolves with the ms from `since` to the first cross-node arrival after it, in each direction. */
async function crossNodeBack(heard: Heard[][], since: number, timeoutMs = 10_000): Promise<number[]> {
  const firsts = await eventually(
    () => heard.map((h, i) => h.find((e) => e.at >= since && e.from !== i && e.from >= 0)),
    (f) => f.every((e) => e !== undefined),
    'cross-node delivery back in both directions',
    timeoutMs,
  );
  return firsts.map((e) => e!.at - since);
}

/** A private Redis with two nodes on it; on each node a listening client and `callersPerNode` callers for `load`. */
async function twoNodes(callersPerNode: number) {
  redis = await privateRedis();
  await redis.start();
  cluster = await startCluster(2, ROUTES, {}, {}, { redisUrl: redis.url });
  const nodes = cluster.nodes;
  const heard = [listen(await client(nodes[0]!)), listen(await client(nodes[1]!))];
  const callers: Array<{ socket: ClientSocket; tag: string }> = [];
  for (const [n, node] of nodes.entries()) for (let c = 0; c < callersPerNode; c++) callers.push({ socket: await client(node), tag: `n${n}-c${c}` });
  return { nodes, heard, callers, redis };
}

describe('cluster: Redis failures (issue 11)', () => {
  it('under load, Redis down for 5 s: no node dies, every call is answered, local delivery goes on, cross-node delivery is back within ~1 s; one log line each way', async () => {
    const { nodes, heard, callers, redis } = await twoNodes(3);

    // Before: cross-node delivery works.
    let running = load(callers);
    const started = Date.now();
    await crossNodeBack(heard, started, 5000);
    await sleep(1000);
    const beforeCpu = nodes.map((n) => cpuMs(n.child.pid!));
    const beforeAt = Date.now();

    // Redis goes away, under load.
    await redis.stop();
    const down = Date.now();
    await sleep(1000);
    const downCpu = nodes.map((n) => cpuMs(n.child.pid!));
    await sleep(2500);
    const loadedCpu = nodes.map((n, i) => ((cpuMs(n.child.pid!) - downCpu[i]!) / (Date.now() - down - 1000)) * 100);
    const beforeLoadedCpu = downCpu.map((c, i) => ((c - beforeCpu[i]!) / (down + 1000 - beforeAt)) * 100);
    for (const node of nodes) expect(await healthz(node)).toBe(200);

    // Idle with Redis down: no busy loop (reconnecting costs next to nothing).
    const firstRun = await running.stop();
    const idleFrom = Date.now();
    const idleStart = nodes.map((n) => cpuMs(n.child.pid!));
    await sleep(1500);
    const idleCpu = nodes.map((n, i) => ((cpuMs(n.child.pid!) - idleStart[i]!) / (Date.now() - idleFrom)) * 100);

    // Load again, and Redis comes back on the same port.
    running = load(callers);
    await sleep(300);
    const localDuringOutage = heard.map((h, i) => h.filter((e) => e.at > down + 200 && e.from === i).length);
    await redis.start();
    const up = Date.now();
    const back = await crossNodeBack(heard, up);
    await sleep(500);
    const secondRun = await running.stop();

    // One line each way per node, and nothing after.
    for (const node of nodes)
      await eventually(
        () => node.grep(REACHABLE).length,
        (n) => n >= 1,
        `"${REACHABLE}" logged`,
        5000,
      );
    await sleep(300);

    console.log(
      `[cluster-failures] cross-node delivery back ${back.join(' / ')} ms after Redis answered (node 1 from node 0 / node 0 from node 1); ` +
        `calls ok ${firstRun.ok + secondRun.ok}, errors ${firstRun.errors + secondRun.errors}, unanswered ${firstRun.unanswered + secondRun.unanswered}; ` +
        `local deliveries during the outage ${localDuringOutage.join(' / ')}; ` +
        `CPU under load before ${beforeLoadedCpu.map((c) => c.toFixed(0)).join(' / ')} %, during the outage ${loadedCpu.map((c) => c.toFixed(0)).join(' / ')} %, idle during the outage ${idleCpu.map((c) => c.toFixed(1)).join(' / ')} %`,
    );

    for (const node of nodes) {
      expect(alive(node)).toBe(true);
      expect(await healthz(node)).toBe(200);
      expect(node.grep(UNREACHABLE)).toHaveLength(1);
      expect(node.grep(REACHABLE)).toHaveLength(1);
    }
    expect(firstRun.unanswered + secondRun.unanswered).toBe(0);
    expect(firstRun.ok).toBeGreaterThan(100);
    expect(localDuringOutage.every((n) => n > 0)).toBe(true);
    for (const c of idleCpu) expect(c).toBeLessThan(15);
    for (const ms of back) expect(ms).toBeLessThan(1500);
  }, 60_000);

  it('a node started while Redis is down starts, serves its own sockets, and joins the cluster when Redis comes up', async () => {
    redis = await privateRedis();
    cluster = await startCluster(2, ROUTES, {}, {}, { redisUrl: redis.url });
    const nodes = cluster.nodes;
    for (const node of nodes) expect(await healthz(node)).toBe(200);
    const sockets = [await client(nodes[0]!), await client(nodes[1]!)];
    const heard = sockets.map(listen);

    // Each node serves its own sockets.
    for (const [i, s] of sockets.entries()) {
      expect(await s.timeout(3000).emitWithAck('say', { text: `n${i}-alone` })).toEqual({ ok: true, err: false, res: { text: `n${i}-alone` } });
    }
    await eventually(() => heard.every((h, i) => h.some((e) => e.text === `n${i}-alone`)), Boolean, 'local delivery while Redis is down', 3000);

    // No busy loop while Redis is down.
    const from = Date.now();
    const start = nodes.map((n) => cpuMs(n.child.pid!));
    await sleep(2000);
    const idle = nodes.map((n, i) => ((cpuMs(n.child.pid!) - start[i]!) / (Date.now() - from)) * 100);

    await redis.start();
    const up = Date.now();
    let probing = true;
    const probes = sockets.map(async (s, i) => {
      for (let k = 0; probing; k++) {
        await s.timeout(3000).emitWithAck('say', { text: `n${i}-probe-${k}` });
        await sleep(20);
      }
    });
    const joined = await crossNodeBack(heard, up);
    probing = false;
    await Promise.all(probes);
    for (const node of nodes)
      await eventually(
        () => node.grep(REACHABLE).length,
        (n) => n >= 1,
        `"${REACHABLE}" logged`,
        5000,
      );
    console.log(
      `[cluster-failures] started while Redis was down: cross-node delivery ${joined.join(' / ')} ms after Redis answered; idle CPU while down ${idle.map((c) => c.toFixed(1)).join(' / ')} %`,
    );

    for (const node of nodes) {
      expect(alive(node)).toBe(true);
      expect(node.grep(UNREACHABLE)).toHaveLength(1);
      expect(node.grep(REACHABLE)).toHaveLength(1);
    }
    for (const c of idle) expect(c).toBeLessThan(15);
    for (const ms of joined) expect(ms).toBeLessThan(2000);
  }, 60_000);

  it('with Redis down, SIGTERM still ends a node promptly (one started while down, one that lost it)', async () => {
    redis = await privateRedis();
    await redis.start();
    cluster = await startCluster(1, ROUTES, {}, {}, { redisUrl: redis.url });
    await redis.stop();
    const late = await startCluster(1, ROUTES, {}, {}, { redisUrl: redis.url });
    try {
      await sleep(1500);
      for (const node of [cluster.nodes[0]!, late.nodes[0]!]) {
        const from = Date.now();
        const code = await node.stop(8000);
        if (code !== 0) console.log(node.stderr());
        console.log(`[cluster-failures] SIGTERM with Redis down: exit ${code} after ${Date.now() - from} ms`);
        expect(code).toBe(0);
        expect(Date.now() - from).toBeLessThan(3000);
      }
    } finally {
      await late.close();
    }
  }, 60_000);

  it('with recovery on, sockets that leave and come back while Redis is down do not take the node down', async () => {
    redis = await privateRedis();
    await redis.start();
    cluster = await startCluster(2, `server: { recovery: { maxDisconnection: 2m } }\n${ROUTES}`, {}, {}, { redisUrl: redis.url });
    const node = cluster.nodes[0]!;
    const s = await client(node);
    await s.timeout(3000).emitWithAck('say', { text: 'n0-before' });
    await redis.stop();
    await sleep(300);
    // A disconnection persists the session (SET), a reconnection restores it (GETDEL, XRANGE): both refused now.
    s.io.engine.close();
    await sleep(300);
    const again = await client(node);
    expect(await again.timeout(3000).emitWithAck('say', { text: 'n0-after' })).toEqual({ ok: true, err: false, res: { text: 'n0-after' } });
    await sleep(500);
    expect(alive(node)).toBe(true);
    expect(await healthz(node)).toBe(200);
    await redis.start();
  }, 60_000);

  it('Redis hanging (SIGSTOP: connections open, nothing answered) for 3 s under load: calls answered, local delivery goes on, one log line each way', async () => {
    const { nodes, heard, callers, redis } = await twoNodes(2);
    const running = load(callers);
    await crossNodeBack(heard, Date.now(), 5000);
    redis.pause();
    const paused = Date.now();
    await sleep(3000);
    const local = heard.map((h, i) => h.filter((e) => e.at > paused + 1500 && e.from === i).length);
    redis.resume();
    const resumed = Date.now();
    const back = await crossNodeBack(heard, resumed);
    const counts = await running.stop();
    console.log(
      `[cluster-failures] Redis hung 3 s: local deliveries in its last 1.5 s ${local.join(' / ')}; calls ok ${counts.ok}, unanswered ${counts.unanswered}; cross-node back ${back.join(' / ')} ms after SIGCONT`,
    );
    for (const node of nodes)
      await eventually(
        () => node.grep(REACHABLE).length,
        (n) => n >= 1,
        `"${REACHABLE}" logged`,
        5000,
      );
    for (const node of nodes) {
      expect(alive(node)).toBe(true);
      expect(node.grep(UNREACHABLE)).toHaveLength(1);
      expect(node.grep(REACHABLE)).toHaveLength(1);
    }
    expect(counts.unanswered).toBe(0);
    expect(local.every((n) => n > 0)).toBe(true);
  }, 60_000);
});

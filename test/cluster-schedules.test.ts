import { afterEach, describe, expect, it } from 'vitest';
import { killAll } from './support/child.js';
import { startCluster, type TestCluster, nodeClient, disconnectClients } from './support/cluster.js';
import { collect, sleep } from './support/util.js';
import { eventually } from './support/flow.js';
import type { PlaygroundInfo } from '../src/core/wire.js';

/** SPEC §6: a schedule runs once per tick for the whole cluster (three real `sockey serve` processes on one Redis). */
const MANIFEST = `
auth: { enabled: false }
schedules:
  beat:
    every: 200ms
    hook: ./beat.mjs#beat
    reply: { tick: "{{tick}}", pid: "{{res.pid}}" }
    emit: all
`;

const FILES = { 'beat.mjs': 'export const beat = () => ({ pid: process.pid });\n' };

let cluster: TestCluster | undefined;

afterEach(async () => {
  disconnectClients();
  await cluster?.close();
  cluster = undefined;
  killAll();
});

const client = (url: string) => nodeClient(url);

describe('cluster: schedules', () => {
  it('an every: 200ms schedule with emit: all fires once per tick for the cluster, not once per node', async () => {
    cluster = await startCluster(3, MANIFEST, FILES);
    const clients = await Promise.all(cluster.nodes.map((n) => client(n.url)));
    const seen = clients.map((c) => collect<{ res: { tick: number; pid: number } }>(c, 'beat_data'));
    await sleep(3000);
    const pids = new Set(cluster.nodes.map((n) => n.child.pid));
    for (const s of seen) {
      const ticks = s.map((e) => e.res.tick);
      // ≈15 ticks in 3 s; three times that if every node ran it.
      expect(ticks.length, JSON.stringify(ticks)).toBeGreaterThanOrEqual(10);
      expect(ticks.length, JSON.stringify(ticks)).toBeLessThanOrEqual(17);
      expect(new Set(ticks).size, `a tick twice: ${JSON.stringify(ticks)}`).toBe(ticks.length);
      const sorted = [...ticks].sort((a, b) => a - b);
      for (const t of sorted) expect(t % 200).toBe(0);
      // No gap beyond one missed tick.
      for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!, JSON.stringify(sorted)).toBeLessThanOrEqual(400);
      for (const e of s) expect(pids.has(e.res.pid)).toBe(true);
    }
    // Every client saw the same ticks (in the span all of them were listening).
    const from = Math.max(...seen.map((s) => Math.min(...s.map((e) => e.res.tick))));
    const to = Math.min(...seen.map((s) => Math.max(...s.map((e) => e.res.tick))));
    const inSpan = seen.map((s) =>
      s
        .map((e) => e.res.tick)
        .filter((t) => t >= from && t <= to)
        .sort((a, b) => a - b),
    );
    expect(inSpan[1]).toEqual(inSpan[0]);
    expect(inSpan[2]).toEqual(inSpan[0]);
    // Every node's playground knows the latest tick: it ran it here, or another node took it.
    const lastTicks = () => Promise.all(cluster!.nodes.map(async (n) => ((await (await fetch(`${n.url}/_sockey/routes.json`)).json()) as PlaygroundInfo).schedules[0]?.last));
    const lasts = await eventually(
      lastTicks,
      (l) => l.every((x) => x !== undefined) && l.some((x) => x!.outcome === 'ok') && l.some((x) => x!.outcome === 'another node'),
      'the latest tick on every node, run here or taken by another',
      5000,
      50,
    );
    for (const l of lasts) expect(l!.tick % 200).toBe(0);
    // Three processes start one after the other: slow on a busy machine.
  }, 60_000);
});

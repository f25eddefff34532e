import { afterEach, describe, expect, it } from 'vitest';
import { killAll } from './support/child.js';
import { startCluster, type TestCluster, nodeClient, disconnectClients } from './support/cluster.js';
import { eventually, flush, ok, record } from './support/flow.js';
import { call } from './support/util.js';
import { PRESENCE_ROUTES, register } from './support/presence.js';

/** SPEC §6 presence across three `sockey serve` processes on one Redis and one MariaDB database. */
let cluster: TestCluster | undefined;

afterEach(async () => {
  disconnectClients();
  await cluster?.close();
  cluster = undefined;
  killAll();
});

const client = (nodeIndex: number, auth?: Record<string, unknown>) => nodeClient(cluster!.nodes[nodeIndex]!.url, auth);

const presence = (seen: Array<{ event: string; payload: unknown }>) =>
  seen.filter((e) => e.event.startsWith('presence.')).map((e) => `${e.event} ${(e.payload as { res: { user: { name: string } } }).res.user.name}`);

describe('presence across three processes', () => {
  it('users on different nodes: each join and leave is announced once on every node, who lists each user once, a last disconnect is a leave, guests do not count', async () => {
    cluster = await startCluster(3, PRESENCE_ROUTES);
    // A guest watcher on each node.
    const watchers = [await client(0), await client(1), await client(2)];
    for (const w of watchers) await call(w, 'boards.open', { board: 1 });
    const seen = watchers.map(record);
    // Until every node reads the stream (a busy machine may take a moment to connect one to Redis).
    const pings = (i: number) => seen[i]!.filter((e) => e.event === 'ping_data').length;
    for (const w of watchers) {
      const before = [0, 1, 2].map(pings);
      await eventually(
        async () => (await call(w, 'ping'), [0, 1, 2].map(pings)),
        (n) => n.every((c, i) => c > before[i]!),
        'a ping on every node',
        15_000,
        200,
      );
    }

    const alice = await client(0);
    const { id: aliceId, token } = await register(alice, 'alice');
    const aliceOnC = await client(2, { name: 'alice', token });
    const bob = await client(1);
    const { id: bobId } = await register(bob, 'bob');
    const guest = await client(2);
    await call(alice, 'boards.open', { board: 1 });
    await eventually(
      () => seen.map(presence),
      (all) => all.every((s) => s.length === 1),
      'alice announced on every node',
    );
    await call(aliceOnC, 'boards.open', { board: 1 });
    await call(bob, 'boards.open', { board: 1 });
    await call(guest, 'boards.open', { board: 1 });
    await eventually(
      () => seen.map(presence),
      (all) => all.every((s) => s.length >= 2),
      'bob announced on every node',
    );
    await flush(...watchers);
    expect(seen.map(presence)).toEqual(Array(3).fill(['presence.join alice', 'presence.join bob']));
    // One entry per user, asked on any node; alice has two sockets on two nodes.
    for (const w of watchers) {
      const who = await call(w, 'boards.who', { board: 1 });
      expect(who.ok).toBe(true);
      expect([...(who.res as Array<{ id: number }>)].sort((a, b) => a.id - b.id)).toEqual([
        { id: aliceId, name: 'alice' },
        { id: bobId, name: 'bob' },
      ]);
    }
    // Alice's socket on node A goes: her socket on node C keeps her present.
    for (const s of seen) s.splice(0);
    alice.disconnect();
    await call(bob, 'boards.leave', { board: 1 });
    await eventually(
      () => seen.map(presence),
      (all) => all.every((s) => s.length >= 1),
      'bob left on every node',
    );
    // Then her last socket disconnects.
    aliceOnC.disconnect();
    await eventually(
      () => seen.map(presence),
      (all) => all.every((s) => s.length >= 2),
      'alice left on every node',
    );
    await flush(...watchers);
    expect(seen.map(presence)).toEqual(Array(3).fill(['presence.leave bob', 'presence.leave alice']));
    expect(await call(watchers[1]!, 'boards.who', { board: 1 })).toEqual(ok([]));
  }, 60_000);
});

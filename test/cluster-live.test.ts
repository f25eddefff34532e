import { afterEach, describe, expect, it } from 'vitest';
import { killAll } from './support/child.js';
import { disconnectClients, nodeClient, startCluster, type TestCluster } from './support/cluster.js';
import { flush, ok, record } from './support/flow.js';
import { call, next } from './support/util.js';

/** SPEC §7 with §6: a write on one node refreshes the live subscribers on the others (two real processes, one Redis, one MariaDB). */
const ROUTES = `
routes:
  cards.live:
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    live: true
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
  cards.add:
    params: { type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }
    sql: INSERT INTO cards (board_id, title) VALUES (:board, :title)
`;
const SCHEMA = 'CREATE TABLE IF NOT EXISTS cards (id INT AUTO_INCREMENT PRIMARY KEY, board_id INT NOT NULL, title VARCHAR(100) NOT NULL) ENGINE=InnoDB;\n';

let cluster: TestCluster | undefined;
afterEach(async () => {
  disconnectClients();
  await cluster?.close();
  cluster = undefined;
  killAll();
});

const titles = (rows: Array<{ title: string }>) => rows.map((r) => r.title);

describe('live queries across nodes (cluster:)', { timeout: 60_000 }, () => {
  it("a write on one node pushes to the subscribers on every node, each node re-running its own, and only the written board's", async () => {
    cluster = await startCluster(2, ROUTES, { 'schema.sql': SCHEMA });
    const [a, b] = [await nodeClient(cluster.nodes[0]!.url), await nodeClient(cluster.nodes[1]!.url)];
    const other = await nodeClient(cluster.nodes[1]!.url);
    const seenA = record(a);
    const seenB = record(b);
    const seenOther = record(other);
    expect(await call(a, 'cards.live', { board: 1 })).toEqual(ok([]));
    expect(await call(b, 'cards.live', { board: 1 })).toEqual(ok([]));
    expect(await call(other, 'cards.live', { board: 2 })).toEqual(ok([]));

    const onA = next(a, 'cards.live_data', 5000);
    const onB = next(b, 'cards.live_data', 5000);
    expect(await call(a, 'cards.add', { board: 1, title: 'from node 0' })).toMatchObject({ ok: true });
    expect(titles((await onA).res)).toEqual(['from node 0']);
    expect(titles((await onB).res)).toEqual(['from node 0']);

    // And the other way round.
    const backA = next(a, 'cards.live_data', 5000);
    const backB = next(b, 'cards.live_data', 5000);
    await call(b, 'cards.add', { board: 1, title: 'from node 1' });
    expect(titles((await backA).res)).toEqual(['from node 0', 'from node 1']);
    expect(titles((await backB).res)).toEqual(['from node 0', 'from node 1']);

    // Board 2's subscriber got nothing of board 1: its first push is its own board's.
    const onOther = next(other, 'cards.live_data', 5000);
    await call(a, 'cards.add', { board: 2, title: 'board 2' });
    expect(titles((await onOther).res)).toEqual(['board 2']);
    await flush(a, b, other);
    const pushes = (seen: ReturnType<typeof record>) => seen.filter((e) => e.event === 'cards.live_data').length;
    expect([pushes(seenA), pushes(seenB), pushes(seenOther)]).toEqual([2, 2, 1]);
  });
});

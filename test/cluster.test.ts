import { afterEach, describe, expect, it } from 'vitest';
import { killAll } from './support/child.js';
import { startCluster, type TestCluster, nodeClient, disconnectClients } from './support/cluster.js';
import { ok, record } from './support/flow.js';
import { call } from './support/util.js';

/** SPEC §6: three real `sockey serve` processes on one Redis (a prefix of their own) and one MariaDB database. */
const ROUTES = `
auth: { bcryptCost: 4 }
routes:
  say:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { text: "{{params.text}}" }
    emit: all
  shout:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { text: "{{params.text}}" }
    emit: broadcast
  rooms.join:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    reply: { joined: "{{params.room}}" }
    join: "r:{{params.room}}"
  rooms.say:
    params: { type: object, properties: { room: { type: string }, text: { type: string } }, required: [room, text] }
    reply: { text: "{{params.text}}" }
    emit: { to: room, room: "r:{{params.room}}", except: self }
  dm:
    auth: required
    params: { type: object, properties: { to: { type: integer }, text: { type: string } }, required: [to, text] }
    reply: { from: "{{auth.name}}", text: "{{params.text}}" }
    emit: { to: user, user: "{{params.to}}", event: dm.new }
  whoami:
    auth: required
    reply: { name: "{{auth.name}}", id: "{{auth.id}}" }
`;

let cluster: TestCluster | undefined;

afterEach(async () => {
  disconnectClients();
  await cluster?.close();
  cluster = undefined;
  killAll();
});

const client = (nodeIndex: number, auth?: Record<string, unknown>) => nodeClient(cluster!.nodes[nodeIndex]!.url, auth);

/** Waits until `seen` holds an event named `marker` (sent after what is checked, from the same node: the stream keeps order). */
async function until(seen: Array<{ event: string; payload: unknown }>, marker: (e: { event: string; payload: unknown }) => boolean, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!seen.some(marker)) {
    if (Date.now() - started > ms) throw new Error(`marker not seen in ${ms} ms; seen: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const text = (e: { payload: unknown }) => ((e.payload as { res?: { text?: string } }).res ?? {}).text;

describe('cluster: three processes on one Redis', { timeout: 60_000 }, () => {
  it('all, broadcast, room and user emits reach sockets on every node exactly once; except: self leaves out only the caller', async () => {
    cluster = await startCluster(3, ROUTES);
    const [a, b, c] = [await client(0), await client(1), await client(2)];
    const seen = [record(a), record(b), record(c)];

    expect(await call(b, 'say', { text: 'one' })).toEqual(ok({ text: 'one' }));
    expect(await call(b, 'shout', { text: 'two' })).toEqual(ok({ text: 'two' }));
    expect(await call(b, 'say', { text: 'end' })).toEqual(ok({ text: 'end' }));
    for (const s of seen) await until(s, (e) => text(e) === 'end');
    const texts = seen.map((s) => s.map(text));
    expect(texts[0]).toEqual(['one', 'two', 'end']);
    expect(texts[1]).toEqual(['one', 'end']);
    expect(texts[2]).toEqual(['one', 'two', 'end']);

    for (const s of [a, b]) await call(s, 'rooms.join', { room: 'x' });
    for (const s of seen) s.splice(0);
    await call(c, 'rooms.join', { room: 'x' });
    expect(await call(c, 'rooms.say', { room: 'x', text: 'in x' })).toEqual(ok({ text: 'in x' }));
    await call(c, 'say', { text: 'after' });
    for (const s of seen) await until(s, (e) => text(e) === 'after');
    expect(seen.map((s) => s.map(text))).toEqual([['in x', 'after'], ['in x', 'after'], ['after']]);
  });

  it('a user emit reaches every socket of the user on any node; a logout on one node signs out the session on the others', async () => {
    cluster = await startCluster(3, ROUTES);
    const alice = await client(0);
    const reg = await call(alice, 'auth', { type: 'register', user: { name: 'alice', email: 'alice@example.com', password: 'pa55!word' } });
    expect(reg.ok).toBe(true);
    const token = (reg.res as { token: string }).token;
    // Alice's session on node C, by handshake; Bob on node B.
    const aliceOnC = await client(2, { name: 'alice', token });
    const me = await call(aliceOnC, 'whoami');
    expect(me).toEqual(ok({ name: 'alice', id: expect.any(Number) }));
    const bob = await client(1);
    expect((await call(bob, 'auth', { type: 'register', user: { name: 'bob', email: 'bob@example.com', password: 'pa55!word' } })).ok).toBe(true);
    const atAlice = [record(alice), record(aliceOnC)];
    expect(await call(bob, 'dm', { to: (me.res as { id: number }).id, text: 'hi' })).toEqual(ok({ from: 'bob', text: 'hi' }));
    for (const s of atAlice) await until(s, (e) => e.event === 'dm.new');
    expect(atAlice.map((s) => s.filter((e) => e.event === 'dm.new').length)).toEqual([1, 1]);

    expect(await call(alice, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    // Node C hears of it through Redis: its socket of the session is signed out.
    const started = Date.now();
    let r = await call(aliceOnC, 'whoami');
    while (r.ok && Date.now() - started < 3000) r = await call(aliceOnC, 'whoami');
    expect(r).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
  });
});

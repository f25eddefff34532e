import { createServer, connect as tcpConnect, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll } from './support/child.js';
import { startCluster, type TestCluster } from './support/cluster.js';
import { eventually, flush, ok, record } from './support/flow.js';
import { call, next, startServer, type TestServer } from './support/util.js';

/** SPEC §6 `server.recovery`: socket.io's connection-state recovery, with sockey's session and presence taken up again. */
const ROUTES = `
auth: { bcryptCost: 4 }
routes:
  rooms.join:
    auth: optional
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    join: { room: "r:{{params.room}}", presence: true }
    reply: { joined: "{{params.room}}" }
  rooms.say:
    params: { type: object, properties: { room: { type: string }, text: { type: string } }, required: [room, text] }
    reply: { text: "{{params.text}}" }
    emit: { to: room, room: "r:{{params.room}}", except: self }
  whoami:
    auth: required
    reply: { name: "{{auth.name}}" }
`;

async function register(socket: ClientSocket, name: string): Promise<string> {
  const r = await call(socket, 'auth', { type: 'register', user: { name, email: `${name}@example.com`, password: 'pa55!word' } });
  expect(r.ok).toBe(true);
  return (r.res as { token: string }).token;
}

const texts = (seen: Array<{ event: string; payload: unknown }>) => seen.filter((e) => e.event === 'rooms.say_data').map((e) => (e.payload as { res: { text: string } }).res.text);

/** Drops the connection the way a network does (socket.io's own test for recovery does so), and waits until the client has noticed. */
async function dropConnection(s: ClientSocket): Promise<void> {
  const gone = new Promise<string>((resolve) => s.once('disconnect', resolve));
  s.io.engine.close();
  // The client calls it "forced close"; the server sees "transport close", a reason it keeps the session for.
  expect(await gone).toBe('forced close');
}

async function reconnect(s: ClientSocket): Promise<void> {
  const back = new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', reject);
  });
  s.connect();
  await back;
}

/**
 * While `alice` is away `bob` says "while away"; she reconnects and recovers: the same id,
 * the missed message, still signed in, and "after" arrives too. `heard` lists what she got
 * (`before` came earlier).
 */
async function expectRecovery(alice: ClientSocket, bob: ClientSocket, id: string, heard: () => string[], before: string[]): Promise<void> {
  await call(bob, 'rooms.say', { room: 'x', text: 'while away' });
  await bounded(reconnect(alice), "alice's reconnection");
  expect(alice.recovered).toBe(true);
  expect(alice.id).toBe(id);
  await eventually(heard, (x) => x.length === before.length + 1, 'the missed message');
  expect(await call(alice, 'whoami')).toEqual(ok({ name: 'alice' }));
  await call(bob, 'rooms.say', { room: 'x', text: 'after' });
  await eventually(heard, (x) => x.length === before.length + 2, 'a new message');
  expect(heard()).toEqual([...before, 'while away', 'after']);
}

describe('connection-state recovery (one process)', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a client back within the window keeps its id, rooms and sign-in, gets what it missed, and a later logout elsewhere still signs it out', async () => {
    t = await startServer(`version: 1\ndatabase: { file: ./db.sqlite }\nserver: { recovery: { maxDisconnection: 1m } }\n${ROUTES}`);
    const alice = await t.client();
    const token = await register(alice, 'alice');
    const bob = await t.client();
    const watcher = await t.client();
    await call(watcher, 'rooms.join', { room: 'x' });
    const presence = record(watcher);
    await call(alice, 'rooms.join', { room: 'x' });
    const seen = record(alice);
    // A broadcast gives the client an offset to come back from (socket.io's rule).
    await call(bob, 'rooms.say', { room: 'x', text: 'before' });
    await eventually(
      () => texts(seen),
      (x) => x.length === 1,
      'the first message',
    );
    const id = alice.id;

    await dropConnection(alice);
    await eventually(
      () => t!.server.states.has(id!),
      (has) => !has,
      'the server noticing the drop',
    );
    await expectRecovery(alice, bob, id!, () => texts(seen), ['before']);
    // The disconnect announced her gone, the recovery back.
    await eventually(
      () => presence.filter((e) => e.event.startsWith('presence.')).map((e) => e.event),
      (e) => e.length === 3,
      'presence',
    );
    expect(presence.filter((e) => e.event.startsWith('presence.')).map((e) => e.event)).toEqual(['presence.join', 'presence.leave', 'presence.join']);

    // The session is in the index again: a logout with the same token on another socket signs her out.
    const other = await t.client({ auth: { name: 'alice', token } });
    expect(await call(other, 'whoami')).toEqual(ok({ name: 'alice' }));
    expect(await call(other, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    expect(await call(alice, 'whoami')).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    // And the room she joined as herself is left.
    await call(bob, 'rooms.say', { room: 'x', text: 'gone' });
    await flush(alice);
    expect(texts(seen)).toEqual(['before', 'while away', 'after']);
  });

  it('a session revoked while the client was away is not taken up again: signed out, its rooms left, told on auth_error', async () => {
    t = await startServer(`version: 1\ndatabase: { file: ./db.sqlite }\nserver: { recovery: true }\n${ROUTES}`);
    const alice = await t.client();
    const token = await register(alice, 'alice');
    const bob = await t.client();
    await call(alice, 'rooms.join', { room: 'x' });
    const seen = record(alice);
    await call(bob, 'rooms.say', { room: 'x', text: 'before' });
    await eventually(
      () => texts(seen),
      (x) => x.length === 1,
      'the first message',
    );

    await dropConnection(alice);
    const other = await t.client({ auth: { name: 'alice', token } });
    expect(await call(other, 'whoami')).toEqual(ok({ name: 'alice' }));
    expect(await call(other, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    const told = next(alice, 'auth_error');
    await bounded(reconnect(alice), "alice's reconnection through the balancer");
    expect(alice.recovered).toBe(true);
    expect(await told).toMatchObject({ ok: false, code: 'UNAUTHORIZED', err: 'Logged out.' });
    expect(await call(alice, 'whoami')).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    await call(bob, 'rooms.say', { room: 'x', text: 'after' });
    await flush(alice);
    expect(texts(seen)).toEqual(['before']);
  });
});

/** A TCP proxy, as a load balancer would be: it forwards to one node, and to another once told. */
function proxy(port: number): { url: Promise<string>; pointAt(port: number): void; close(): void } {
  let target = port;
  const open = new Set<TcpSocket>();
  const server: TcpServer = createServer((client) => {
    const upstream = tcpConnect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        open.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const url = new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
  return {
    url,
    pointAt: (p) => void (target = p),
    close: () => {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

describe('connection-state recovery across nodes', () => {
  let cluster: TestCluster | undefined;
  const sockets: ClientSocket[] = [];
  let lb: ReturnType<typeof proxy> | undefined;
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.disconnect();
    lb?.close();
    await cluster?.close();
    cluster = undefined;
    killAll();
  });

  // The waits are bounded so that a failure says where.
  it('a node killed with SIGKILL: its client comes back through the balancer on the other node, signed in, and gets what was sent meanwhile', async () => {
    cluster = await startCluster(2, `server: { recovery: { maxDisconnection: 1m } }\n${ROUTES}`);
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    lb = proxy(a.port);
    const alice = connect(await lb.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const bob = connect(b.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(alice, bob);
    // Both listened for at once: bob may connect while alice is awaited (a listener added after would wait forever).
    const connected = [alice, bob].map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          if (s.connected) return resolve();
          s.once('connect', () => resolve());
          s.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}`)));
        }),
    );
    await bounded(Promise.all(connected), 'the clients to connect');
    await register(alice, 'alice');
    await call(alice, 'rooms.join', { room: 'x' });
    const seen = record(alice);
    // Until node A reads the stream (a busy machine may take a moment to connect it to Redis).
    await eventually(
      async () => (await call(bob, 'rooms.say', { room: 'x', text: 'before' }), texts(seen)),
      (x) => x.length > 0,
      'a first message across nodes',
      15_000,
      200,
    );
    // Warm-up messages still on their way are left out below.
    const later = (x: Array<{ event: string; payload: unknown }>) => texts(x).filter((t) => t !== 'before');
    const id = alice.id;

    const gone = new Promise<string>((resolve) => alice.once('disconnect', resolve));
    a.child.kill('SIGKILL');
    await a.exited;
    expect(await bounded(gone, "alice's disconnect")).toBe('transport close');
    lb.pointAt(b.port);
    await expectRecovery(alice, bob, id!, () => later(seen), []);
  });
});

/** `p`, or a failure naming what did not happen within `ms`. */
function bounded<T>(p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

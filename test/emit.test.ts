import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket as ClientSocket } from 'socket.io-client';
import { flush, ok, record } from './support/flow.js';
import { call, startServer, type TestServer } from './support/util.js';

type Seen = ReturnType<typeof record>;

const MANIFEST = `
version: 1
database: { driver: sqlite, file: ./data/app.db }
routes:
  self:
    params: { type: object, properties: { n: { type: integer } } }
    reply: { n: "{{params.n}}" }
  selfExplicit:
    params: { type: object, properties: { n: { type: integer } } }
    reply: { n: "{{params.n}}" }
    emit: { to: self }
  broadcast:
    params: { type: object, properties: { n: { type: integer } } }
    reply: { n: "{{params.n}}" }
    emit: broadcast
  all:
    params: { type: object, properties: { n: { type: integer } } }
    reply: { n: "{{params.n}}" }
    emit: all
  allObject:
    reply: { hello: everyone }
    emit: { to: all }
  allButMe:
    reply: { hello: others }
    emit: { to: all, except: self }
  room.join:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    join: "room:{{params.room}}"
    reply: { joined: "{{params.room}}" }
  room.leave:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    leave: "room:{{params.room}}"
    reply: { left: "{{params.room}}" }
  room.say:
    params: { type: object, properties: { room: { type: string }, text: { type: string } }, required: [room, text] }
    reply: { text: "{{params.text}}" }
    emit: { to: room, room: "room:{{params.room}}" }
  room.others:
    params: { type: object, properties: { room: { type: string }, text: { type: string } }, required: [room, text] }
    reply: { text: "{{params.text}}" }
    emit: { to: room, room: "room:{{params.room}}", except: self }
  news:
    params: { type: object, properties: { text: { type: string } }, required: [text] }
    reply: { text: "{{params.text}}" }
    emit: { to: all, event: messages.new }
  news.self:
    reply: { text: mine }
    emit: { to: self, event: "{{event}}.mine" }
  news.room:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    reply: { text: "in {{params.room}}" }
    emit: { to: room, room: "room:{{params.room}}", event: "{{params.room}}.new" }
`;

describe('emit targets with three clients', () => {
  let t: TestServer;
  let a: ClientSocket, b: ClientSocket, c: ClientSocket;
  let seenA: Seen, seenB: Seen, seenC: Seen;

  beforeAll(async () => {
    t = await startServer(MANIFEST);
  });
  afterAll(() => t?.close());

  // Fresh clients for every test: no room membership or listener carries over.
  async function three() {
    [a, b, c] = [await t.client(), await t.client(), await t.client()];
    [seenA, seenB, seenC] = [record(a), record(b), record(c)];
  }
  const settle = () => flush(a, b, c);

  it('self with an ack: the ack alone carries the reply', async () => {
    await three();
    expect(await call(a, 'self', { n: 1 })).toEqual(ok({ n: 1 }));
    expect(await call(a, 'selfExplicit', { n: 2 })).toEqual(ok({ n: 2 }));
    await settle();
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([]);
    expect(seenC).toEqual([]);
  });

  it('self without an ack: the caller gets <event>_data, no one else does', async () => {
    await three();
    a.emit('self', { n: 3 });
    a.emit('selfExplicit', { n: 4 });
    await settle();
    expect(seenA).toEqual([
      { event: 'self_data', payload: ok({ n: 3 }) },
      { event: 'selfExplicit_data', payload: ok({ n: 4 }) },
    ]);
    expect(seenB).toEqual([]);
    expect(seenC).toEqual([]);
  });

  it('broadcast: everyone but the caller gets _data; the caller only the ack', async () => {
    await three();
    expect(await call(a, 'broadcast', { n: 5 })).toEqual(ok({ n: 5 }));
    await settle();
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([{ event: 'broadcast_data', payload: ok({ n: 5 }) }]);
    expect(seenC).toEqual([{ event: 'broadcast_data', payload: ok({ n: 5 }) }]);
  });

  it('broadcast without an ack: the caller gets nothing at all', async () => {
    await three();
    a.emit('broadcast', { n: 6 });
    await settle();
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([{ event: 'broadcast_data', payload: ok({ n: 6 }) }]);
    expect(seenC).toEqual([{ event: 'broadcast_data', payload: ok({ n: 6 }) }]);
  });

  it('all: every client gets _data, the caller too, and the ack also gets the envelope', async () => {
    await three();
    expect(await call(a, 'all', { n: 7 })).toEqual(ok({ n: 7 }));
    expect(await call(b, 'allObject', {})).toEqual(ok({ hello: 'everyone' }));
    await settle();
    for (const seen of [seenA, seenB, seenC]) {
      expect(seen).toEqual([
        { event: 'all_data', payload: ok({ n: 7 }) },
        { event: 'allObject_data', payload: ok({ hello: 'everyone' }) },
      ]);
    }
  });

  it('all without an ack: one _data packet each, the caller included', async () => {
    await three();
    c.emit('all', { n: 8 });
    await settle();
    for (const seen of [seenA, seenB, seenC]) expect(seen).toEqual([{ event: 'all_data', payload: ok({ n: 8 }) }]);
  });

  it('all with except: self is everyone but the caller', async () => {
    await three();
    expect(await call(a, 'allButMe', {})).toEqual(ok({ hello: 'others' }));
    await settle();
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([{ event: 'allButMe_data', payload: ok({ hello: 'others' }) }]);
    expect(seenC).toEqual([{ event: 'allButMe_data', payload: ok({ hello: 'others' }) }]);
  });

  it('room: only members get _data, the caller too when a member', async () => {
    await three();
    expect(await call(a, 'room.join', { room: 'r1' })).toEqual(ok({ joined: 'r1' }));
    expect(await call(b, 'room.join', { room: 'r1' })).toEqual(ok({ joined: 'r1' }));
    expect(await call(c, 'room.join', { room: 'r2' })).toEqual(ok({ joined: 'r2' }));
    await settle();
    expect([seenA, seenB, seenC]).toEqual([[], [], []]);

    expect(await call(a, 'room.say', { room: 'r1', text: 'hi r1' })).toEqual(ok({ text: 'hi r1' }));
    await settle();
    expect(seenA).toEqual([{ event: 'room.say_data', payload: ok({ text: 'hi r1' }) }]);
    expect(seenB).toEqual([{ event: 'room.say_data', payload: ok({ text: 'hi r1' }) }]);
    expect(seenC).toEqual([]);

    // A non-member may speak to a room: the members get it, the caller only the ack.
    seenA.length = seenB.length = 0;
    expect(await call(c, 'room.say', { room: 'r1', text: 'from outside' })).toEqual(ok({ text: 'from outside' }));
    await settle();
    expect(seenA).toEqual([{ event: 'room.say_data', payload: ok({ text: 'from outside' }) }]);
    expect(seenB).toEqual([{ event: 'room.say_data', payload: ok({ text: 'from outside' }) }]);
    expect(seenC).toEqual([]);

    // A room nobody joined reaches nobody.
    seenA.length = seenB.length = 0;
    expect(await call(a, 'room.say', { room: 'empty', text: 'echo?' })).toEqual(ok({ text: 'echo?' }));
    await settle();
    expect([seenA, seenB, seenC]).toEqual([[], [], []]);
  });

  it('room with except: self leaves the caller out', async () => {
    await three();
    for (const s of [a, b, c]) await call(s, 'room.join', { room: 'r3' });
    expect(await call(a, 'room.others', { room: 'r3', text: 'not me' })).toEqual(ok({ text: 'not me' }));
    await settle();
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([{ event: 'room.others_data', payload: ok({ text: 'not me' }) }]);
    expect(seenC).toEqual([{ event: 'room.others_data', payload: ok({ text: 'not me' }) }]);
  });

  it('leave: a socket that left a room no longer gets its packets', async () => {
    await three();
    for (const s of [a, b]) await call(s, 'room.join', { room: 'r4' });
    expect(await call(b, 'room.leave', { room: 'r4' })).toEqual(ok({ left: 'r4' }));
    expect(await call(c, 'room.say', { room: 'r4', text: 'who is here' })).toEqual(ok({ text: 'who is here' }));
    await settle();
    expect(seenA).toEqual([{ event: 'room.say_data', payload: ok({ text: 'who is here' }) }]);
    expect(seenB).toEqual([]);
    expect(seenC).toEqual([]);
  });

  it('an explicit emit.event is used verbatim, without the _data suffix', async () => {
    await three();
    expect(await call(a, 'news', { text: 'extra' })).toEqual(ok({ text: 'extra' }));
    await settle();
    for (const seen of [seenA, seenB, seenC]) expect(seen).toEqual([{ event: 'messages.new', payload: ok({ text: 'extra' }) }]);
  });

  it('emit.event is a template (self without an ack uses it too)', async () => {
    await three();
    await call(a, 'room.join', { room: 'lobby' });
    await call(b, 'room.join', { room: 'lobby' });
    expect(await call(c, 'news.room', { room: 'lobby' })).toEqual(ok({ text: 'in lobby' }));
    b.emit('news.self', {});
    await settle();
    expect(seenA).toEqual([{ event: 'lobby.new', payload: ok({ text: 'in lobby' }) }]);
    expect(seenB).toEqual([
      { event: 'lobby.new', payload: ok({ text: 'in lobby' }) },
      { event: 'news.self.mine', payload: ok({ text: 'mine' }) },
    ]);
    expect(seenC).toEqual([]);
  });
});

describe('custom socket suffixes', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer(`
version: 1
database: { driver: sqlite, file: ./data/app.db }
socket: { data: _ok, error: _fail }
routes:
  ping:
    reply: pong
  shout:
    reply: loud
    emit: broadcast
  strict:
    params: { type: object, properties: { n: { type: integer } }, required: [n] }
    reply: fine
`);
  });
  afterAll(() => t?.close());

  it('uses socket.data and socket.error as the suffixes', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const [seenA, seenB] = [record(a), record(b)];
    a.emit('ping', {});
    a.emit('strict', { n: 'x' });
    expect(await call(a, 'shout', {})).toEqual(ok('loud'));
    await flush(a, b);
    expect(seenA).toEqual([
      { event: 'ping_ok', payload: ok('pong') },
      { event: 'strict_fail', payload: expect.objectContaining({ ok: false, res: false, code: 'VALIDATION' }) },
    ]);
    expect(seenB).toEqual([{ event: 'shout_ok', payload: ok('loud') }]);
  });
});

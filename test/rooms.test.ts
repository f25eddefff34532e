import { afterEach, describe, expect, it } from 'vitest';
import { eventually, flush, record } from './support/flow.js';
import { call, collect, next, startServer, type TestServer } from './support/util.js';

const MANIFEST = `
version: 1
database: { file: ./db.sqlite }
auth: { bcryptCost: 4 }
server:
  maxPayload: 2kb
routes:
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
  room.shout:
    params: { type: object, properties: { room: { type: string }, text: { type: string } }, required: [room, text] }
    reply: { text: "{{params.text}}" }
    emit: { to: room, room: "room:{{params.room}}", except: self }
  hook.join:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    hook: ./hooks/rooms.ts#joinAndGreet
  notify.me:
    auth: required
    reply: { hello: "{{auth.name}}" }
    emit: { to: user }
  notify.other:
    auth: required
    params: { type: object, properties: { id: { type: integer } }, required: [id] }
    reply: { from: "{{auth.name}}" }
    emit: { to: user, user: "{{params.id}}", event: direct }
  big:
    reply: { ok: 1 }
`;

const HOOK = `
export async function joinAndGreet(ctx) {
  ctx.join('room:' + ctx.params.room);
  ctx.emit({ to: 'room', room: 'room:' + ctx.params.room, except: 'self' }, { arrived: ctx.socket.id }, 'room.arrived');
  return { joined: ctx.params.room };
}
`;

let t: TestServer;
afterEach(async () => {
  await t?.close();
});

async function register(socket: Awaited<ReturnType<TestServer['client']>>, name: string) {
  const r = await call(socket, 'auth', { type: 'register', user: { name, email: `${name}@example.com`, password: 'pa55!word' } });
  expect(r.ok).toBe(true);
  return r.res as { name: string; token: string };
}

describe('rooms', () => {
  it('delivers to members only, the caller too when a member', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b, c] = [await t.client(), await t.client(), await t.client()];
    expect(await call(a, 'room.join', { room: 'x' })).toEqual({ ok: true, err: false, res: { joined: 'x' } });
    await call(b, 'room.join', { room: 'x' });
    const seenC = collect(c, 'room.say_data');
    const atA = next(a, 'room.say_data');
    const atB = next(b, 'room.say_data');
    const ack = await call(a, 'room.say', { room: 'x', text: 'hi' });
    expect(ack).toEqual({ ok: true, err: false, res: { text: 'hi' } });
    expect(await atA).toEqual({ ok: true, err: false, res: { text: 'hi' } });
    expect(await atB).toEqual({ ok: true, err: false, res: { text: 'hi' } });
    await flush(c);
    expect(seenC).toEqual([]);
  });

  it('except: self leaves the caller out', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b] = [await t.client(), await t.client()];
    await call(a, 'room.join', { room: 'y' });
    await call(b, 'room.join', { room: 'y' });
    const seenA = collect(a, 'room.shout_data');
    const atB = next(b, 'room.shout_data');
    await call(a, 'room.shout', { room: 'y', text: 'hey' });
    expect((await atB).res).toEqual({ text: 'hey' });
    await flush(a);
    expect(seenA).toEqual([]);
  });

  it('leave stops delivery, and a non-member caller still gets its ack', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b] = [await t.client(), await t.client()];
    await call(b, 'room.join', { room: 'z' });
    expect(await call(b, 'room.leave', { room: 'z' })).toEqual({ ok: true, err: false, res: { left: 'z' } });
    const seenB = collect(b, 'room.say_data');
    const seenA = collect(a, 'room.say_data');
    expect((await call(a, 'room.say', { room: 'z', text: 'anyone?' })).ok).toBe(true);
    await flush(a, b);
    expect(seenB).toEqual([]);
    expect(seenA).toEqual([]);
  });

  it('a socket leaves every room on disconnect', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const a = await t.client();
    await call(a, 'room.join', { room: 'd' });
    const id = a.id!;
    expect(t.server.io.sockets.adapter.rooms.get('room:d')?.has(id)).toBe(true);
    a.disconnect();
    await eventually(() => !t.server.io.sockets.adapter.rooms.has('room:d'), Boolean, 'room:d to be gone');
    expect(t.server.states.has(id)).toBe(false);
  });

  it('hooks join rooms and emit to them', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b] = [await t.client(), await t.client()];
    await call(a, 'hook.join', { room: 'h' });
    const arrived = next(a, 'room.arrived');
    expect(await call(b, 'hook.join', { room: 'h' })).toEqual({ ok: true, err: false, res: { joined: 'h' } });
    expect(await arrived).toEqual({ ok: true, err: false, res: { arrived: b.id } });
  });
});

describe('per-user delivery', () => {
  it('to: user reaches every socket of the signed-in user and nobody else', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [phone, laptop, other] = [await t.client(), await t.client(), await t.client()];
    const ada = await register(phone, 'ada');
    expect((await call(laptop, 'auth', { type: 'login', user: { name: 'ada', password: 'pa55!word' } })).ok).toBe(true);
    await register(other, 'bob');
    const seenOther = collect(other, 'notify.me_data');
    const atPhone = next(phone, 'notify.me_data');
    const atLaptop = next(laptop, 'notify.me_data');
    expect(await call(phone, 'notify.me', {})).toEqual({ ok: true, err: false, res: { hello: 'ada' } });
    expect((await atPhone).res).toEqual({ hello: 'ada' });
    expect((await atLaptop).res).toEqual({ hello: 'ada' });
    await flush(other);
    expect(seenOther).toEqual([]);
    expect(ada.name).toBe('ada');
  });

  it('to: user with user: reaches another user by id', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b] = [await t.client(), await t.client()];
    await register(a, 'carol');
    await register(b, 'dave');
    const rows = (await t.server.db.run("SELECT id FROM users WHERE name_lower = 'dave'", [])).rows!;
    const atB = next(b, 'direct');
    expect((await call(a, 'notify.other', { id: rows[0]!.id })).ok).toBe(true);
    expect(await atB).toEqual({ ok: true, err: false, res: { from: 'carol' } });
  });

  it('a signed-out socket no longer gets user deliveries', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b] = [await t.client(), await t.client()];
    const ada = await register(a, 'erin');
    expect((await call(b, 'auth', { type: 'login', user: { name: 'erin', password: 'pa55!word' } })).ok).toBe(true);
    expect((await call(b, 'auth', { type: 'logout' })).res).toEqual({ loggedOut: true });
    const seenB = collect(b, 'notify.me_data');
    expect(await call(a, 'notify.me', {})).toEqual({ ok: true, err: false, res: { hello: 'erin' } });
    await flush(b);
    expect(seenB).toEqual([]);
    expect(ada.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('payload limit', () => {
  it('a client over server.maxPayload is disconnected alone', async () => {
    t = await startServer(MANIFEST, { 'hooks/rooms.ts': HOOK });
    const [a, b] = [await t.client(), await t.client()];
    const gone = new Promise<string>((resolve) => a.on('disconnect', (reason) => resolve(reason)));
    a.emit('big', { blob: 'x'.repeat(10_000) });
    expect(await gone).toBe('transport close');
    expect(b.connected).toBe(true);
    expect(await call(b, 'big', { blob: 'x'.repeat(100) })).toEqual({ ok: true, err: false, res: { ok: 1 } });
  });
});

describe("reserved rooms: a payload never reaches sockey's own rooms or a socket's private room", () => {
  const RESERVED = `
version: 1
database: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }
auth: { bcryptCost: 4 }
routes:
  any.join:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    sql: INSERT INTO joins (room) VALUES (:room)
    join: "{{params.room}}"
  any.leave:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    leave: "{{params.room}}"
    reply: { left: true }
  any.say:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    reply: { text: spoofed }
    emit: { to: room, room: "{{params.room}}", event: "auth_data" }
  res.join:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    reply: { room: "{{params.room}}" }
    join: "{{res.room}}"
  hook.join:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    hook: ./hooks/rooms.ts#join
  hook.say:
    params: { type: object, properties: { room: { type: string } }, required: [room] }
    hook: ./hooks/rooms.ts#say
  joins.count:
    sql: SELECT COUNT(*) AS n FROM joins
    result: value
  notify.me:
    auth: required
    reply: { secret: "for {{auth.name}} only" }
    emit: { to: user }
`;
  const HOOKS = `
export function join(ctx) { ctx.join(ctx.params.room); return { joined: ctx.params.room }; }
export function say(ctx) { ctx.emit({ to: 'room', room: ctx.params.room }, { text: 'spoofed' }); return true; }
`;
  const FILES = { 'hooks/rooms.ts': HOOKS, 'schema.sql': 'CREATE TABLE IF NOT EXISTS joins (room TEXT);\n' };
  const forbidden = { ok: false, res: false, code: 'FORBIDDEN', err: expect.stringContaining('reserved') };

  it("join and leave of a sockey: room are refused with FORBIDDEN, and the route's work is not done", async () => {
    t = await startServer(RESERVED, FILES);
    const [victim, guest] = [await t.client(), await t.client()];
    await register(victim, 'victim');
    const seen = record(guest);
    for (const room of ['sockey:user:1', 'sockey:anything']) {
      expect(await call(guest, 'any.join', { room })).toEqual(forbidden);
      expect(await call(guest, 'res.join', { room })).toEqual(forbidden);
      expect(await call(guest, 'hook.join', { room })).toEqual(forbidden);
      expect(await call(guest, 'any.leave', { room })).toEqual(forbidden);
    }
    expect(await call(guest, 'joins.count')).toEqual({ ok: true, err: false, res: 0 });
    // What is meant for user 1 reaches user 1 only.
    const mine = next(victim, 'notify.me_data');
    expect((await call(victim, 'notify.me')).ok).toBe(true);
    expect((await mine).res).toEqual({ secret: 'for victim only' });
    await flush(guest);
    expect(seen.filter((e) => e.event !== 'any.join_data')).toEqual([]);
    // An ordinary room still works.
    expect(await call(guest, 'any.join', { room: 'lobby' })).toEqual({ ok: true, err: false, res: { affectedRows: 1, insertId: 1 } });
  });

  it("a socket's own room (its id) cannot be joined or addressed by another socket", async () => {
    t = await startServer(RESERVED, FILES);
    const [victim, guest] = [await t.client(), await t.client()];
    const atVictim = record(victim);
    expect(await call(guest, 'any.join', { room: victim.id })).toEqual(forbidden);
    expect(await call(guest, 'any.say', { room: victim.id })).toEqual(forbidden);
    expect(await call(guest, 'hook.say', { room: victim.id })).toEqual(forbidden);
    await flush(victim);
    expect(atVictim).toEqual([]);
  });

  it('emit to a sockey: room (from the manifest or a hook) is refused, nobody receives it', async () => {
    t = await startServer(RESERVED, FILES);
    const [victim, guest] = [await t.client(), await t.client()];
    await register(victim, 'victim');
    const atVictim = record(victim);
    expect(await call(guest, 'any.say', { room: 'sockey:user:1' })).toEqual(forbidden);
    expect(await call(guest, 'hook.say', { room: 'sockey:user:1' })).toEqual(forbidden);
    await flush(victim);
    expect(atVictim).toEqual([]);
  });

  it('a constant sockey: room in the manifest is a validate error', async () => {
    const bad = RESERVED.replace('join: "{{params.room}}"', 'join: "sockey:user:1"');
    await expect(startServer(bad, FILES)).rejects.toThrow(/routes\.any\.join\.join: rooms starting with "sockey:" are sockey's own/);
  });
});

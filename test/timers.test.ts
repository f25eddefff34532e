import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, flush, ok, record } from './support/flow.js';
import { call, collect, next, startServer, type TestServer } from './support/util.js';

const MANIFEST = `
version: 1
database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }
routes:
  tick.self:
    params: { type: object, properties: { tag: { type: string, default: none } } }
    reply: started
    timers:
      - every: 100ms
        reply: { tag: "{{params.tag}}" }
  tick.broadcast:
    reply: started
    timers:
      - every: 100ms
        emit: broadcast
        reply: { from: broadcast }
  tick.all:
    reply: started
    timers:
      - every: 100ms
        emit: all
        reply: { from: all }
  once:
    params: { type: object, properties: { n: { type: integer } }, required: [n] }
    reply: started
    timers:
      - after: 150ms
        emit: all
        reply: { n: "{{params.n}}" }
  once.late:
    reply: started
    timers:
      - after: 400ms
        emit: all
        reply: late
  once.self:
    reply: started
    timers:
      - after: 100ms
        emit: { to: self, event: "once.done" }
        reply: { done: true }
  once.late.self:
    reply: started
    timers:
      - after: 400ms
        emit: { to: self, event: "once.late.done" }
        reply: { done: true }
  example:
    reply: { message: "Received Example Request" }
    timers:
      - every: 100ms
        emit: broadcast
        reply: { message: "Timed emit to everyone but the caller" }
      - after: 250ms
        emit: all
        reply: { message: "Emit to everyone after 250 ms" }
  counter:
    reply: started
    timers:
      - every: 100ms
        emit: self
        sql: SELECT COUNT(*) AS n FROM beats
        result: value
  beat:
    sql: INSERT INTO beats DEFAULT VALUES
    result: none
  bad.params:
    params: { type: object, properties: { n: { type: integer } }, required: [n] }
    reply: started
    timers:
      - after: 50ms
        emit: self
        reply: should not fire
`;

const SCHEMA = 'CREATE TABLE IF NOT EXISTS beats (id INTEGER PRIMARY KEY AUTOINCREMENT);\n';

describe('route timers', () => {
  // A server per test: intervals of one test must not reach the clients of the next.
  let t: TestServer;
  beforeEach(async () => {
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA });
  });
  afterEach(() => t?.close());

  const timersOf = (id: string | undefined) => t.server.states.get(id!)?.timers;

  it('every: emits to self repeatedly, with the params of the call', async () => {
    const a = await t.client();
    const ticks = collect(a, 'tick.self_data');
    expect(await call(a, 'tick.self', { tag: 'x' })).toEqual(ok('started'));
    await eventually(() => ticks.length >= 3, Boolean, 'three ticks');
    expect(ticks.slice(0, 3)).toEqual([ok({ tag: 'x' }), ok({ tag: 'x' }), ok({ tag: 'x' })]);
  });

  it('every: emits to broadcast (not the owner) and to all (the owner too)', async () => {
    const [a, b, c] = [await t.client(), await t.client(), await t.client()];
    const seen = [record(a), record(b), record(c)];
    expect(await call(a, 'tick.broadcast', {})).toEqual(ok('started'));
    expect(await call(b, 'tick.all', {})).toEqual(ok('started'));
    await eventually(() => seen.every((s) => s.filter((x) => x.event === 'tick.all_data').length >= 2), Boolean, 'two all ticks each');
    await eventually(() => seen[1]!.filter((x) => x.event === 'tick.broadcast_data').length >= 2, Boolean, 'two broadcast ticks on b');
    await eventually(() => seen[2]!.filter((x) => x.event === 'tick.broadcast_data').length >= 2, Boolean, 'two broadcast ticks on c');
    expect(seen[0]!.filter((x) => x.event === 'tick.broadcast_data')).toEqual([]);
    for (const s of seen) {
      for (const x of s)
        expect(x).toEqual(x.event === 'tick.all_data' ? { event: 'tick.all_data', payload: ok({ from: 'all' }) } : { event: 'tick.broadcast_data', payload: ok({ from: 'broadcast' }) });
    }
  });

  it('after: fires once, to all, with the params of the call', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const [seenA, seenB] = [collect(a, 'once_data'), collect(b, 'once_data')];
    const started = Date.now();
    expect(await call(a, 'once', { n: 7 })).toEqual(ok('started'));
    const first = await next(b, 'once_data');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(first).toEqual(ok({ n: 7 }));
    // A second firing (an "after" that repeats like an interval) would come 150 ms later: before
    // a 400 ms "after" started now. Node runs due timers in the order they are due.
    const late = next(b, 'once.late.done');
    expect(await call(b, 'once.late.self', {})).toEqual(ok('started'));
    expect(await late).toEqual(ok({ done: true }));
    await flush(a, b);
    expect(seenA).toEqual([ok({ n: 7 })]);
    expect(seenB).toEqual([ok({ n: 7 })]);
    // Fired and gone: nothing left for this route.
    expect(timersOf(a.id)!.routes()).not.toContain('once');
  });

  it('after: an explicit event name', async () => {
    const a = await t.client();
    const got = next(a, 'once.done');
    expect(await call(a, 'once.self', {})).toEqual(ok('started'));
    expect(await got).toEqual(ok({ done: true }));
  });

  it('the default example route: the reply, a broadcast interval and an "after" to all', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const [seenA, seenB] = [record(a), record(b)];
    expect(await call(a, 'example', {})).toEqual(ok({ message: 'Received Example Request' }));
    await eventually(() => seenA.length >= 1 && seenB.some((x) => x.payload && (x.payload as { res: { message: string } }).res.message.includes('after')), Boolean, 'the after packet');
    expect(seenA).toEqual([{ event: 'example_data', payload: ok({ message: 'Emit to everyone after 250 ms' }) }]);
    expect(seenB.filter((x) => (x.payload as { res: { message: string } }).res.message.startsWith('Timed')).length).toBeGreaterThanOrEqual(1);
    for (const x of seenB) expect(x.event).toBe('example_data');
  });

  it('a timer may run sql; its result is emitted', async () => {
    const a = await t.client();
    const ticks = collect(a, 'counter_data');
    await call(a, 'counter', {});
    await eventually(() => ticks.length >= 1, Boolean, 'a counter tick');
    const base = (ticks[0] as { res: number }).res;
    expect(ticks[0]).toEqual(ok(base));
    await call(a, 'beat', {});
    await call(a, 'beat', {});
    await eventually(() => ticks.some((x) => (x as { res: number }).res === base + 2), Boolean, 'the count to move by two');
  });

  it('a failed call starts no timers', async () => {
    const a = await t.client();
    const seen = record(a);
    expect(await call(a, 'bad.params', {})).toMatchObject({ ok: false, code: 'VALIDATION' });
    // Its 50 ms "after", had it started, would fire before a 100 ms one started now on another socket.
    const b = await t.client();
    const done = next(b, 'once.done');
    expect(await call(b, 'once.self', {})).toEqual(ok('started'));
    expect(await done).toEqual(ok({ done: true }));
    await flush(a);
    expect(seen).toEqual([]);
    expect(timersOf(a.id)!.count()).toBe(0);
  });

  it('invoking the route again replaces its interval instead of stacking it', async () => {
    const a = await t.client();
    const ticks = collect(a, 'tick.self_data');
    for (let i = 0; i < 5; i++) expect(await call(a, 'tick.self', { tag: `call ${i}` })).toEqual(ok('started'));
    expect(timersOf(a.id)!.count()).toBe(1);
    expect(timersOf(a.id)!.routes()).toEqual(['tick.self']);
    ticks.length = 0;
    // A second of it, measured by ten ticks of the same interval on another socket, started later.
    const b = await t.client();
    const yardstick = collect(b, 'tick.self_data');
    await call(b, 'tick.self', { tag: 'yardstick' });
    await eventually(() => yardstick.length >= 10, Boolean, 'ten ticks of the yardstick');
    await flush(a);
    // One 100 ms interval gives at most ~10 in a second; five stacked ones ~50.
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(12);
    // Every tick comes from the last call's interval.
    for (const tick of ticks) expect(tick).toEqual(ok({ tag: 'call 4' }));
  });

  it('invoking the route again replaces a pending "after"', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const seenB = collect(b, 'once_data');
    await call(a, 'once', { n: 1 });
    await call(a, 'once', { n: 2 });
    // The first "after" was due before the second: had it survived, it would have come first.
    expect(await next(b, 'once_data')).toEqual(ok({ n: 2 }));
    await flush(b);
    expect(seenB).toEqual([ok({ n: 2 })]);
  });

  it('timers of two sockets are independent', async () => {
    const [a, b, c] = [await t.client(), await t.client(), await t.client()];
    const ticksA = collect(a, 'tick.self_data');
    const ticksB = collect(b, 'tick.self_data');
    const seenC = record(c);
    await call(a, 'tick.self', { tag: 'a' });
    await call(b, 'tick.self', { tag: 'b' });
    await eventually(() => ticksA.length >= 2 && ticksB.length >= 2, Boolean, 'ticks on a and b');
    for (const x of ticksA) expect(x).toEqual(ok({ tag: 'a' }));
    for (const x of ticksB) expect(x).toEqual(ok({ tag: 'b' }));
    // B calling again replaces B's interval only.
    await call(b, 'tick.self', { tag: 'b2' });
    expect(timersOf(a.id)!.count()).toBe(1);
    expect(timersOf(b.id)!.count()).toBe(1);
    // A leaving stops A's interval only.
    const idA = a.id!;
    a.disconnect();
    await eventually(() => !t.server.states.has(idA), Boolean, 'the server to drop a');
    const before = ticksB.length;
    await eventually(() => ticksB.length >= before + 2, Boolean, 'b to keep ticking');
    expect(ticksB.at(-1)).toEqual(ok({ tag: 'b2' }));
    await flush(c);
    expect(seenC).toEqual([]);
  });

  it('a disconnect clears every timer of the socket: no packet reaches anyone afterwards', async () => {
    const [a, b, c] = [await t.client(), await t.client(), await t.client()];
    const seenB = record(b);
    const seenC = record(c);
    await call(a, 'tick.broadcast', {});
    await call(a, 'tick.all', {});
    await call(a, 'example', {});
    await call(a, 'once.late', {});
    const idA = a.id!;
    // tick.broadcast, tick.all, example's two timers and once.late's pending "after".
    expect(timersOf(idA)!.count()).toBe(5);
    const state = t.server.states.get(idA)!;
    a.disconnect();
    await eventually(() => !t.server.states.has(idA), Boolean, 'the server to drop a');
    expect(state.timers.count()).toBe(0);
    await flush(b, c);
    const [nb, nc] = [seenB.length, seenC.length];
    // a's timers were due within 400 ms of its last call (once.late); a 400 ms "after" started
    // now on a fourth socket comes after every one of them.
    const d = await t.client();
    const late = next(d, 'once.late.done');
    expect(await call(d, 'once.late.self', {})).toEqual(ok('started'));
    expect(await late).toEqual(ok({ done: true }));
    await flush(b, c);
    expect(seenB.length).toBe(nb);
    expect(seenC.length).toBe(nc);
    // The pending "after" died with the socket.
    expect([...seenB, ...seenC].some((x) => x.event === 'once.late_data')).toBe(false);
  });

  it('closing the server clears the timers of connected sockets', async () => {
    const t2 = await startServer(MANIFEST, { 'schema.sql': SCHEMA });
    const a = await t2.client();
    await call(a, 'tick.self', {});
    const state = t2.server.states.get(a.id!)!;
    expect(state.timers.count()).toBe(1);
    await t2.close();
    expect(state.timers.count()).toBe(0);
  });
});

describe('timers and sign-out: timers started as a user stop when that user signs out', () => {
  let t: TestServer;
  afterEach(() => t?.close());
  const AUTH_TIMERS = `
version: 1
database: { file: ./db.sqlite }
auth: { bcryptCost: 4, tokenTimeout: TIMEOUT }
routes:
  me.tick:
    auth: required
    reply: started
    timers:
      - every: 40ms
        reply: { as: "{{auth.name}}" }
  me.hook:
    auth: required
    hook: ./hooks/tick.ts#tick
  guest.tick:
    reply: started
    timers:
      - every: 40ms
        reply: { guest: true }
`;
  const HOOK = `export function tick(ctx) { ctx.timers.every(40, () => ctx.emit('self', { as: ctx.auth.name }, 'me.hook.tick')); return 'started'; }`;
  const start = (timeout = '1h') => startServer(AUTH_TIMERS.replace('TIMEOUT', timeout), { 'hooks/tick.ts': HOOK });
  const login = async (socket: Awaited<ReturnType<TestServer['client']>>, name: string, register = true) => {
    const r = await call(socket, 'auth', { type: register ? 'register' : 'login', user: { name, email: `${name}@example.com`, password: 'pa55!word' } });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    return r.res as { name: string; token: string };
  };
  /** Waits for `n` more guest ticks: the event loop has run several user timer periods by then. */
  const periods = async (socket: Awaited<ReturnType<TestServer['client']>>, n = 3) => {
    for (let i = 0; i < n; i++) await next(socket, 'guest.tick_data');
  };

  it("logout clears them: no packet with the user's name after the logout ack", async () => {
    t = await start();
    const a = await t.client();
    await login(a, 'alice');
    expect((await call(a, 'me.tick')).ok).toBe(true);
    expect((await call(a, 'me.hook')).ok).toBe(true);
    expect(await next(a, 'me.tick_data')).toEqual(ok({ as: 'alice' }));
    expect(await next(a, 'me.hook.tick')).toEqual(ok({ as: 'alice' }));
    expect((await call(a, 'guest.tick')).ok).toBe(true);
    expect((await call(a, 'auth', { type: 'logout' })).ok).toBe(true);
    const after = record(a);
    expect(t.server.states.get(a.id!)!.timers.routes()).toEqual(['guest.tick']);
    await periods(a);
    expect(after.filter((e) => e.event !== 'guest.tick_data')).toEqual([]);
  });

  it('a revocation from another socket (logout with the same token) clears them', async () => {
    t = await start();
    const a = await t.client();
    const { token } = await login(a, 'bob');
    expect((await call(a, 'me.tick')).ok).toBe(true);
    expect(await next(a, 'me.tick_data')).toEqual(ok({ as: 'bob' }));
    const b = await t.client({ auth: { name: 'bob', token } });
    expect((await call(b, 'auth', { type: 'logout' })).ok).toBe(true);
    await eventually(() => t.server.states.get(a.id!)!.timers.count() === 0, Boolean, "a's timers to be cleared");
    expect((await call(a, 'guest.tick')).ok).toBe(true);
    const after = record(a);
    await periods(a);
    expect(after.filter((e) => e.event === 'me.tick_data')).toEqual([]);
  });

  it('timers started with a per-message key run on, and stop when that key is revoked', async () => {
    t = await start();
    const owner = await t.client();
    const { token } = await login(owner, 'frank');
    const m = await t.client();
    expect((await call(m, 'me.tick', { user: { name: 'frank', key: token } })).ok).toBe(true);
    expect(await next(m, 'me.tick_data')).toEqual(ok({ as: 'frank' }));
    expect(await next(m, 'me.tick_data')).toEqual(ok({ as: 'frank' }));
    expect((await call(owner, 'auth', { type: 'logout' })).ok).toBe(true);
    expect(t.server.states.get(m.id!)!.timers.count()).toBe(0);
  });

  it("signing in as someone else on the same socket clears the first user's timers", async () => {
    t = await start();
    const a = await t.client();
    await login(a, 'carol');
    await login(await t.client(), 'dave');
    expect((await call(a, 'me.tick')).ok).toBe(true);
    expect(await next(a, 'me.tick_data')).toEqual(ok({ as: 'carol' }));
    const r = await call(a, 'auth', { type: 'login', user: { name: 'dave', password: 'pa55!word' } });
    expect(r.ok).toBe(true);
    expect(t.server.states.get(a.id!)!.timers.count()).toBe(0);
  });

  it('a token that times out (not persistent) stops its timers at once, with no message needed; the next call answers "Logged out."', async () => {
    t = await start('300ms');
    const a = await t.client();
    await login(a, 'erin');
    expect((await call(a, 'me.tick')).ok).toBe(true);
    expect((await call(a, 'me.hook')).ok).toBe(true);
    expect(await next(a, 'me.tick_data')).toEqual(ok({ as: 'erin' }));
    await eventually(() => t.server.states.get(a.id!)!.timers.count() === 0, Boolean, 'the timers to stop when the token times out', 3000);
    expect(await call(a, 'me.tick')).toMatchObject({ ok: false, code: 'UNAUTHORIZED', err: 'Logged out.' });
  });
});

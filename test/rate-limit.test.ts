import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from './support/clock.js';
import { flush } from './support/flow.js';
import { call, next, startServer, type TestServer } from './support/util.js';

let t: TestServer;
afterEach(async () => {
  await t?.close();
});

const MANIFEST = `
version: 1
database: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }
auth: { bcryptCost: 4 }
server:
  rateLimit: { count: 3, per: 400ms }
routes:
  ping:
    reply: pong
  hit:
    params: { type: object, properties: { n: { type: integer } }, required: [n] }
    sql: INSERT INTO hits (n) VALUES (:n)
    rateLimit: { count: 2, per: 500ms }
  mine:
    auth: required
    reply: ok
    rateLimit: { count: 2, per: 1s }
`;
const SCHEMA = 'CREATE TABLE IF NOT EXISTS hits (n INTEGER NOT NULL);';

/** Time is a test clock: the windows pass when the test moves it, and no test is at the mercy of a slow machine. */
describe('rate limits', () => {
  it('over the limit: RATE_LIMITED with retryAfterMs, and the work is not done', async () => {
    const clock = manualClock();
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA }, {}, { clock });
    const a = await t.client();
    expect((await call(a, 'hit', { n: 1 })).ok).toBe(true);
    clock.advance(100);
    expect((await call(a, 'hit', { n: 2 })).ok).toBe(true);
    const over = await call(a, 'hit', { n: 3 });
    expect(over).toMatchObject({ ok: false, res: false, code: 'RATE_LIMITED' });
    expect(over.details.retryAfterMs).toBeGreaterThan(0);
    expect(over.details.retryAfterMs).toBeLessThanOrEqual(500);
    // The window (500 ms) started with the first hit, 100 ms ago.
    expect(over.details.retryAfterMs).toBe(400);
    const rows = (await t.server.db.run('SELECT n FROM hits ORDER BY n', [])).rows;
    expect(rows).toEqual([{ n: 1 }, { n: 2 }]);
    // One millisecond short of it, still refused; then the window opens again.
    clock.advance(over.details.retryAfterMs - 1);
    expect(await call(a, 'hit', { n: 4 })).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: 1 } });
    clock.advance(1);
    expect((await call(a, 'hit', { n: 5 })).ok).toBe(true);
    expect((await t.server.db.run('SELECT n FROM hits ORDER BY n', [])).rows).toEqual([{ n: 1 }, { n: 2 }, { n: 5 }]);
  });

  it('counts per socket: another socket has its own window', async () => {
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA }, {}, { clock: manualClock() });
    const [a, b] = [await t.client(), await t.client()];
    await call(a, 'hit', { n: 1 });
    await call(a, 'hit', { n: 2 });
    expect((await call(a, 'hit', { n: 3 })).code).toBe('RATE_LIMITED');
    expect((await call(b, 'hit', { n: 4 })).ok).toBe(true);
  });

  it('server.rateLimit is the default of routes without their own', async () => {
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA }, {}, { clock: manualClock() });
    const a = await t.client();
    for (let i = 0; i < 3; i++) expect(await call(a, 'ping')).toEqual({ ok: true, err: false, res: 'pong' });
    expect((await call(a, 'ping')).code).toBe('RATE_LIMITED');
  });

  it('counts per signed-in user across their sockets', async () => {
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA }, {}, { clock: manualClock() });
    const [a, b] = [await t.client(), await t.client()];
    expect((await call(a, 'auth', { type: 'register', user: { name: 'fay', email: 'fay@example.com', password: 'pa55!word' } })).ok).toBe(true);
    expect((await call(b, 'auth', { type: 'login', user: { name: 'fay', password: 'pa55!word' } })).ok).toBe(true);
    expect((await call(a, 'mine')).ok).toBe(true);
    expect((await call(b, 'mine')).ok).toBe(true);
    const over = await call(b, 'mine');
    expect(over.code).toBe('RATE_LIMITED');
    expect(over.err).toBe('Too many requests, slow down.');
  });

  it('a rate-limited failure without an ack arrives on <event>_error', async () => {
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA }, {}, { clock: manualClock() });
    const a = await t.client();
    const errors: unknown[] = [];
    a.on('hit_error', (e) => errors.push(e));
    const first = next(a, 'hit_error');
    a.emit('hit', { n: 1 });
    a.emit('hit', { n: 2 });
    a.emit('hit', { n: 3 });
    await first;
    await flush(a);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
  });
});

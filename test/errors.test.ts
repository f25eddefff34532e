import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/errors.js';
import { manualClock } from './support/clock.js';
import { flush, ok, record } from './support/flow.js';
import { call, next, startServer, type TestServer } from './support/util.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS notes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  body TEXT NOT NULL,
  secret_column TEXT
);
CREATE TABLE IF NOT EXISTS secret_table (id INTEGER, secret_column TEXT);
CREATE TABLE IF NOT EXISTS victims (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL
);
`;

const MANIFEST = `
version: 1
database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }
routes:
  ping:
    reply: pong
  room.list:
    params:
      type: object
      properties:
        room: { type: string, maxLength: 8 }
        limit: { type: integer, minimum: 1, maximum: 100, default: 20 }
      required: [room]
      additionalProperties: false
    reply: { room: "{{params.room}}", limit: "{{params.limit}}" }
  missing.table:
    sql: SELECT secret_column FROM secret_table WHERE id = 1
  missing.column:
    sql: SELECT id, secret_column FROM notes
  internal:
    hook: ./hooks/fail.ts#fail
  notes.add:
    params: { type: object, properties: { body: { type: string } }, required: [body] }
    sql: INSERT INTO notes (body) VALUES (:body)
    rateLimit: { count: 2, per: 1s }
  notes.count:
    sql: SELECT COUNT(*) AS n FROM notes
    result: value
  victims.add:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    sql: INSERT INTO victims (name) VALUES (:name)
  victims.find:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    sql: SELECT name FROM victims WHERE name = :name
  victims.all:
    sql: SELECT name FROM victims ORDER BY id
`;

const HOOK = `export function fail(): never { throw new Error('hook internals: password=hunter2'); }\n`;

/** The top-level keys of an error envelope, no more. */
const ERROR_KEYS = ['code', 'details', 'err', 'ok', 'res'];

describe('error envelopes', () => {
  let t: TestServer;
  // Rate-limit windows pass only when a test moves this clock.
  const clock = manualClock();
  beforeAll(async () => {
    t = await startServer(MANIFEST, { 'schema.sql': SCHEMA, 'hooks/fail.ts': HOOK }, {}, { clock });
    // The start prepares every statement: the table and the column go away once the server runs.
    const db = new Database(path.join(t.dir, 'data/app.db'));
    db.exec('DROP TABLE secret_table; ALTER TABLE notes DROP COLUMN secret_column;');
    db.close();
  });
  afterAll(() => t?.close());

  /** After a failure: same socket, still connected, and the next call works. */
  async function stillWorks(socket: Awaited<ReturnType<TestServer['client']>>, id: string | undefined) {
    expect(socket.connected).toBe(true);
    expect(socket.id).toBe(id);
    expect(await call(socket, 'ping', {})).toEqual(ok('pong'));
    // And the server still accepts new connections.
    const fresh = await t.client();
    expect(await call(fresh, 'ping', {})).toEqual(ok('pong'));
  }

  it('VALIDATION: details lists ajv path and message per problem', async () => {
    const a = await t.client();
    const id = a.id;
    const r = await call(a, 'room.list', { room: 42, limit: 0 });
    expect(Object.keys(r).sort()).toEqual(ERROR_KEYS);
    expect(r).toMatchObject({ ok: false, res: false, code: 'VALIDATION', err: expect.stringMatching(/room/) });
    expect(r.details).toHaveLength(2);
    expect(r.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/room', message: 'must be string' }), expect.objectContaining({ path: '/limit', message: 'must be >= 1' })]));
    const missing = await call(a, 'room.list', {});
    expect(missing).toMatchObject({ ok: false, res: false, code: 'VALIDATION' });
    expect(missing.details).toEqual([expect.objectContaining({ path: '', message: "must have required property 'room'" })]);
    const extra = await call(a, 'room.list', { room: 'ok', sneaky: 1 });
    expect(extra.details).toEqual([expect.objectContaining({ path: '', message: 'must NOT have additional properties' })]);
    const long = await call(a, 'room.list', { room: 'way too long' });
    expect(long.details).toEqual([expect.objectContaining({ path: '/room', message: 'must NOT have more than 8 characters' })]);
    await stillWorks(a, id);
    // Valid: defaults filled in.
    expect(await call(a, 'room.list', { room: 'ok' })).toEqual(ok({ room: 'ok', limit: 20 }));
  });

  it('VALIDATION: a payload that is not an object', async () => {
    const a = await t.client();
    const id = a.id;
    for (const payload of ['a string', 42, [1, 2], true]) {
      const r = await call(a, 'room.list', payload);
      expect(Object.keys(r).sort()).toEqual(ERROR_KEYS);
      expect(r).toMatchObject({ ok: false, res: false, code: 'VALIDATION', err: expect.any(String) });
      expect(Array.isArray(r.details)).toBe(true);
      for (const d of r.details) expect(d).toEqual(expect.objectContaining({ path: expect.any(String), message: expect.any(String) }));
    }
    await stillWorks(a, id);
  });

  it('UNKNOWN_EVENT: through the ack; nothing at all without one', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const [seenA, seenB] = [record(a), record(b)];
    const id = a.id;
    expect(await call(a, 'no.such.event', { x: 1 })).toEqual({ ok: false, err: expect.stringContaining('no.such.event'), res: false, code: 'UNKNOWN_EVENT' });
    a.emit('no.such.event', { x: 1 });
    a.emit('no.such.event');
    await flush(a, b);
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([]);
    await stillWorks(a, id);
  });

  it('DB_ERROR: no SQL, table or column name, and no stack', async () => {
    const a = await t.client();
    const id = a.id;
    for (const event of ['missing.table', 'missing.column']) {
      const r = await call(a, event, {});
      expect(r).toEqual({ ok: false, err: ERROR_CODES.DB_ERROR.message, res: false, code: 'DB_ERROR' });
      const text = JSON.stringify(r);
      expect(text).not.toMatch(/SELECT|secret_table|secret_column|notes|no such|sqlite|\bat\b|\.ts|\.js/i);
    }
    await stillWorks(a, id);
    // The server logged the cause for the operator.
    expect(t.logs.text()).toMatch(/secret_table/);
  });

  it('INTERNAL: a hook that throws', async () => {
    const a = await t.client();
    const id = a.id;
    const r = await call(a, 'internal', {});
    expect(r).toEqual({ ok: false, err: ERROR_CODES.INTERNAL.message, res: false, code: 'INTERNAL' });
    expect(JSON.stringify(r)).not.toMatch(/hunter2|password|internals|\bat\b|fail\.ts/);
    await stillWorks(a, id);
  });

  it('RATE_LIMITED: the third call within the window is refused and not executed', async () => {
    const a = await t.client();
    const id = a.id;
    const before = (await call(a, 'notes.count', {})).res as number;
    expect(await call(a, 'notes.add', { body: 'one' })).toEqual(ok({ affectedRows: 1, insertId: expect.any(Number) }));
    expect(await call(a, 'notes.add', { body: 'two' })).toEqual(ok({ affectedRows: 1, insertId: expect.any(Number) }));
    const r = await call(a, 'notes.add', { body: 'three' });
    expect(r).toEqual({ ok: false, err: expect.any(String), res: false, code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
    expect(r.details.retryAfterMs).toBeGreaterThan(0);
    expect(r.details.retryAfterMs).toBeLessThanOrEqual(1000);
    expect(await call(a, 'notes.count', {})).toEqual(ok(before + 2));
    // Other routes are not limited; another socket has a window of its own.
    await stillWorks(a, id);
    const b = await t.client();
    expect(await call(b, 'notes.add', { body: 'from b' })).toMatchObject({ ok: true });
    expect(await call(a, 'notes.count', {})).toEqual(ok(before + 3));
  });

  it('RATE_LIMITED: the window opens again after retryAfterMs', async () => {
    const a = await t.client();
    await call(a, 'notes.add', { body: 'w1' });
    await call(a, 'notes.add', { body: 'w2' });
    const r = await call(a, 'notes.add', { body: 'w3' });
    expect(r.code).toBe('RATE_LIMITED');
    expect(r.details.retryAfterMs).toBe(1000);
    clock.advance(r.details.retryAfterMs - 1);
    expect(await call(a, 'notes.add', { body: 'w4' })).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: 1 } });
    clock.advance(1);
    expect(await call(a, 'notes.add', { body: 'w5' })).toMatchObject({ ok: true });
  });

  it('failures without an ack arrive on <event>_error, to the caller only', async () => {
    const [a, b, c] = [await t.client(), await t.client(), await t.client()];
    const seen = [record(a), record(b), record(c)];
    const id = a.id;
    a.emit('room.list', { room: 1 });
    a.emit('missing.table', {});
    a.emit('internal', {});
    a.emit('room.list', 'not an object');
    const limited = next(a, 'notes.add_error');
    for (const body of ['x1', 'x2', 'x3']) a.emit('notes.add', { body });
    expect(await limited).toEqual({ ok: false, err: expect.any(String), res: false, code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
    await flush(a, b, c);
    expect(seen[0]!.map((s) => [s.event, (s.payload as { code?: string }).code])).toEqual([
      ['room.list_error', 'VALIDATION'],
      ['missing.table_error', 'DB_ERROR'],
      ['internal_error', 'INTERNAL'],
      ['room.list_error', 'VALIDATION'],
      ['notes.add_data', undefined],
      ['notes.add_data', undefined],
      ['notes.add_error', 'RATE_LIMITED'],
    ]);
    expect(seen[0]![1]!.payload).toEqual({ ok: false, err: ERROR_CODES.DB_ERROR.message, res: false, code: 'DB_ERROR' });
    expect(seen[0]![2]!.payload).toEqual({ ok: false, err: ERROR_CODES.INTERNAL.message, res: false, code: 'INTERNAL' });
    expect(seen[1]).toEqual([]);
    expect(seen[2]).toEqual([]);
    await stillWorks(a, id);
  });

  it('SQL injection strings are bound, stored and read back literally', async () => {
    const a = await t.client();
    const nasty = [`'; DROP TABLE victims; --`, `" OR 1=1 --`, `\\' OR '1'='1`, `Robert'); DROP TABLE victims;--`, `:name`, `?`, `' UNION SELECT name FROM sqlite_master --`];
    for (const name of nasty) expect(await call(a, 'victims.add', { name })).toEqual(ok({ affectedRows: 1, insertId: expect.any(Number) }));
    for (const name of nasty) expect(await call(a, 'victims.find', { name })).toEqual(ok([{ name }]));
    // A classic always-true probe matches nothing: it is just a string.
    expect(await call(a, 'victims.find', { name: `x' OR '1'='1` })).toEqual(ok([]));
    expect(await call(a, 'victims.all', {})).toEqual(ok(nasty.map((name) => ({ name }))));
  });
});

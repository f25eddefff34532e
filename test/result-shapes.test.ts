import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { call, startServer, type TestServer } from './support/util.js';

/**
 * SPEC §5: the same SQL over the same data answers the same JSON on SQLite
 * and MariaDB. One table per driver, declared alike; the rows go in through
 * routes; every answer is checked against literals, and at the end the two
 * drivers' answers against each other.
 */
const SCHEMA = {
  sqlite: `
CREATE TABLE IF NOT EXISTS things (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  n INTEGER NOT NULL,
  label VARCHAR(100) NULL,
  flag BOOLEAN NOT NULL DEFAULT 0,
  price DECIMAL(10,2) NULL,
  big BIGINT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  stamped_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  due_at DATETIME(3) NULL,
  day DATE NULL,
  meta JSON NULL
);`,
  mysql: `
CREATE TABLE IF NOT EXISTS things (
  id INT AUTO_INCREMENT PRIMARY KEY,
  n INT NOT NULL,
  label VARCHAR(100) NULL,
  flag BOOLEAN NOT NULL DEFAULT 0,
  price DECIMAL(10,2) NULL,
  big BIGINT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  stamped_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  due_at DATETIME(3) NULL,
  day DATE NULL,
  meta JSON NULL
) ENGINE=InnoDB;`,
} as const;

type DriverName = keyof typeof SCHEMA;

const COLUMNS = 'id, n, label, flag, price, big, created_at, stamped_at, due_at, day, meta';
const THING = `{ type: object, properties: { id: { type: integer } }, required: [id] }`;

const ROUTES = `
routes:
  things.add:
    params:
      type: object
      properties:
        n: { type: integer }
        label: { type: [string, "null"] }
        flag: { type: boolean }
        price: { type: number }
        big: { type: [integer, string] }
        due: { type: string, format: date-time }
        day: { type: string, format: date }
        meta: { type: object }
      required: [n]
      additionalProperties: false
    sql: INSERT INTO things (n, label, flag, price, big, due_at, day, meta) VALUES (:n, :label, :flag, :price, :big, :due, :day, :meta)
    result: affected
  things.addReturning:
    params:
      type: object
      properties: { n: { type: integer }, due: { type: string, format: date-time }, day: { type: string, format: date } }
      required: [n, due, day]
    sql: INSERT INTO things (n, due_at, day) VALUES (:n, :due, :day) RETURNING id, n, due_at, day, meta
  things.get:
    params: ${THING}
    sql: SELECT ${COLUMNS} FROM things WHERE id = :id
    result: row
  things.getJson:
    params: ${THING}
    sql: SELECT ${COLUMNS} FROM things WHERE id = :id
    result: row
    json: [meta]
  things.list:
    sql: SELECT id, n, due_at AS due, day FROM things ORDER BY id
  things.dueAt:
    params: { type: object, properties: { due: { type: string, format: date-time } }, required: [due] }
    sql: SELECT id FROM things WHERE due_at = :due ORDER BY id
  things.createdSince:
    params: { type: object, properties: { since: { type: string, format: date-time } }, required: [since] }
    sql: SELECT COUNT(*) AS n FROM things WHERE created_at >= :since
    result: value
  things.shapes:
    params: ${THING}
    hook: ./hooks.mjs#shapes
  things.hookDate:
    params: ${THING}
    hook: ./hooks.mjs#hookDate
`;

/** MariaDB only (SQLite has no session time zone). */
const MYSQL_ROUTES = `
  session.timeZone:
    sql: SELECT @@session.time_zone AS tz
    result: value
`;

const HOOKS = `
const kind = (v) => (v === null ? 'null' : v instanceof Date ? 'Date' : Buffer.isBuffer(v) ? 'Buffer' : typeof v);
export async function shapes(ctx) {
  const [row] = await ctx.db.query('SELECT ${COLUMNS} FROM things WHERE id = :id', ctx.params);
  const types = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, kind(v)]));
  return { types, row };
}
// A Date given to ctx.db binds as UTC text, which a DATETIME accepts on both.
export async function hookDate(ctx) {
  await ctx.db.execute('UPDATE things SET due_at = :due WHERE id = :id', { id: ctx.params.id, due: new Date('2027-01-02T03:04:05.000Z') });
  const [row] = await ctx.db.query('SELECT due_at FROM things WHERE id = :id', ctx.params);
  return row.due_at;
}
`;

const META = { a: [1, 2], s: "x'y", nested: { ok: true } };
const UNSAFE = '9007199254740993'; // 2^53 + 1

/** What each driver answered, by step, to compare them at the end. created_at/stamped_at are "now": compared for being a time near now. */
const answers: Partial<Record<DriverName, Record<string, unknown>>> = {};

const near = (iso: unknown) => {
  expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  expect(Math.abs(Date.parse(iso as string) - Date.now())).toBeLessThan(10_000);
};

describe.each(Object.keys(SCHEMA) as DriverName[])('one answer on both drivers: %s', (driver) => {
  let t: TestServer;
  let drop: (() => Promise<void>) | undefined;
  const seen: Record<string, unknown> = (answers[driver] = {});
  const ask = async (step: string, event: string, payload?: unknown) => {
    const r = await call(socket, event, payload);
    seen[step] = r;
    return r;
  };
  let socket: Awaited<ReturnType<TestServer['client']>>;

  beforeAll(async () => {
    let database = 'database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }';
    if (driver === 'mysql') {
      const db = await createTestDatabase();
      drop = db.drop;
      database = `database: { driver: mysql, url: "${db.url}", pool: 4, schema: [./schema.sql], migrate: true }`;
    }
    t = await startServer(`version: 1\n${database}\n${ROUTES}${driver === 'mysql' ? MYSQL_ROUTES : ''}`, { 'schema.sql': SCHEMA[driver], 'hooks.mjs': HOOKS });
    socket = await t.client();
  });
  afterAll(async () => {
    await t?.close();
    await drop?.();
  });

  it('INSERT with result: affected answers affectedRows and insertId', async () => {
    expect(await ask('add1', 'things.add', { n: 1, label: 'one', flag: true, price: 12.5, big: 42, due: '2026-12-01T09:39:34+02:00', day: '2026-12-01', meta: META })).toEqual(
      ok({ affectedRows: 1, insertId: 1 }),
    );
    expect(await ask('add2', 'things.add', { n: 2, label: null, flag: false, price: 3, big: UNSAFE })).toEqual(ok({ affectedRows: 1, insertId: 2 }));
  });

  it('integers, text, null, booleans as 0/1, decimals as numbers, bigints exact, DATETIME and TIMESTAMP as ISO UTC, DATE as YYYY-MM-DD, JSON as text', async () => {
    const one = await ask('get1', 'things.get', { id: 1 });
    const { created_at, stamped_at, ...rest } = one.res;
    near(created_at);
    near(stamped_at);
    expect(rest).toEqual({ id: 1, n: 1, label: 'one', flag: 1, price: 12.5, big: 42, due_at: '2026-12-01T07:39:34.000Z', day: '2026-12-01', meta: JSON.stringify(META) });
    const two = await ask('get2', 'things.get', { id: 2 });
    expect(two.res).toMatchObject({ id: 2, n: 2, label: null, flag: 0, price: 3, big: UNSAFE, due_at: null, day: null, meta: null });
  });

  it('json: parses the listed columns; without it, JSON is text on both', async () => {
    const r = await ask('json1', 'things.getJson', { id: 1 });
    expect(r.res.meta).toEqual(META);
    expect((await ask('json2', 'things.getJson', { id: 2 })).res.meta).toBeNull();
    expect(typeof (await call(socket, 'things.get', { id: 1 })).res.meta).toBe('string');
  });

  it('INSERT ... RETURNING answers the inserted row, shaped the same', async () => {
    expect(await ask('returning', 'things.addReturning', { n: 3, due: '2026-12-31T23:59:59.250-01:00', day: '2027-01-01' })).toEqual(
      ok([{ id: 3, n: 3, due_at: '2027-01-01T00:59:59.250Z', day: '2027-01-01', meta: null }]),
    );
  });

  it('a date-time param binds as UTC, in any offset, and compares with stored values and CURRENT_TIMESTAMP', async () => {
    expect(await ask('dueAt', 'things.dueAt', { due: '2026-12-01T07:39:34Z' })).toEqual(ok([{ id: 1 }]));
    expect(await ask('dueAtOffset', 'things.dueAt', { due: '2026-12-01T02:39:34-05:00' })).toEqual(ok([{ id: 1 }]));
    expect(await ask('since', 'things.createdSince', { since: new Date(Date.now() - 60_000).toISOString() })).toEqual(ok(3));
    expect(await ask('sinceFuture', 'things.createdSince', { since: new Date(Date.now() + 3_600_000).toISOString() })).toEqual(ok(0));
    expect(await ask('list', 'things.list', {})).toEqual(
      ok([
        { id: 1, n: 1, due: '2026-12-01T07:39:34.000Z', day: '2026-12-01' },
        { id: 2, n: 2, due: null, day: null },
        { id: 3, n: 3, due: '2027-01-01T00:59:59.250Z', day: '2027-01-01' },
      ]),
    );
  });

  it("a hook's ctx.db.query sees the same values, of the same types (dates as strings, not Date objects)", async () => {
    const r = await ask('shapes', 'things.shapes', { id: 1 });
    expect(r.res.types).toEqual({
      id: 'number',
      n: 'number',
      label: 'string',
      flag: 'number',
      price: 'number',
      big: 'number',
      created_at: 'string',
      stamped_at: 'string',
      due_at: 'string',
      day: 'string',
      meta: 'string',
    });
    expect(r.res.row).toMatchObject({ due_at: '2026-12-01T07:39:34.000Z', day: '2026-12-01', meta: JSON.stringify(META), price: 12.5, flag: 1 });
    expect((await ask('shapes2', 'things.shapes', { id: 2 })).res.types).toMatchObject({ big: 'string', label: 'null' });
    expect(await ask('hookDate', 'things.hookDate', { id: 2 })).toEqual(ok('2027-01-02T03:04:05.000Z'));
  });

  it.runIf(driver === 'mysql')('MariaDB sessions run in UTC', async () => {
    expect(await call(socket, 'session.timeZone', {})).toEqual(ok('+00:00'));
  });
});

describe('across the drivers', () => {
  it('every answer above is the same on SQLite and MariaDB (times of "now" aside)', () => {
    expect(Object.keys(answers).sort()).toEqual(['mysql', 'sqlite']);
    const mask = (v: unknown): unknown => JSON.parse(JSON.stringify(v), (k, x) => (k === 'created_at' || k === 'stamped_at' ? typeof x : x));
    const { sqlite, mysql } = answers as Record<DriverName, Record<string, unknown>>;
    expect(Object.keys(sqlite).length).toBeGreaterThan(10);
    expect(mask(mysql)).toEqual(mask(sqlite));
  });
});

import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/errors.js';
import { createTestDatabase } from './support/mysql.js';
import { ok } from './support/flow.js';
import { call, startServer, type TestServer } from './support/util.js';

/** The same routes against both drivers; only the schema file and one dialect query differ. */
const DRIVERS = {
  sqlite: {
    schema: `
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name VARCHAR(100) NOT NULL UNIQUE,
  qty INTEGER NOT NULL DEFAULT 0,
  note TEXT NULL,
  flag INTEGER NULL,
  meta TEXT NULL,
  secret_column TEXT NULL
);
CREATE TABLE IF NOT EXISTS secret_table (secret_column TEXT);`,
    // Doubled quotes escape in both dialects; a block comment hides :zzz.
    dialect: `SELECT 'it''s :nope' AS a, :x AS b /* :zzz */`,
  },
  mysql: {
    schema: `
CREATE TABLE IF NOT EXISTS items (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL UNIQUE,
  qty INT NOT NULL DEFAULT 0,
  note TEXT NULL,
  flag INT NULL,
  meta TEXT NULL,
  secret_column TEXT NULL
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS secret_table (secret_column TEXT) ENGINE=InnoDB;`,
    // MySQL also escapes with a backslash and comments with #.
    dialect: `SELECT 'it\\'s :nope' AS a, :x AS b # :zzz`,
  },
} as const;

type DriverName = keyof typeof DRIVERS;

const ROUTES = `
routes:
  items.add:
    params:
      type: object
      properties: { name: { type: string }, qty: { type: integer, default: 0 } }
      required: [name]
      additionalProperties: false
    sql: INSERT INTO items (name, qty) VALUES (:name, :qty)
  items.get:
    params: { type: object, properties: { id: { type: integer } }, required: [id] }
    sql: SELECT id, name, qty FROM items WHERE id = :id
    result: row
  items.list:
    sql: SELECT id, name, qty FROM items ORDER BY id
  items.count:
    sql: SELECT COUNT(*) AS n FROM items
    result: value
  items.range:
    params:
      type: object
      properties:
        range: { type: object, properties: { min: { type: integer }, max: { type: integer } }, required: [min, max] }
      required: [range]
    sql: SELECT name FROM items WHERE qty >= :range.min AND qty <= :range.max ORDER BY id
  items.setQty:
    params: { type: object, properties: { name: { type: string }, qty: { type: integer } }, required: [name, qty] }
    sql: UPDATE items SET qty = :qty WHERE name = :name
  items.remove:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    sql: DELETE FROM items WHERE name = :name
    result: affected
  items.touch:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    sql: UPDATE items SET qty = qty + 1 WHERE name = :name
    result: none
  items.pair:
    params: { type: object, properties: { a: { type: string }, b: { type: string } }, required: [a, b] }
    sql:
      - INSERT INTO items (name) VALUES (:a)
      - INSERT INTO items (name) VALUES (:b)
      - SELECT COUNT(*) AS n FROM items
    result: value
  items.attrs:
    params:
      type: object
      properties:
        name: { type: string }
        note: { type: [string, "null"] }
        flag: { type: boolean }
        meta: { type: object }
      required: [name]
    sql: INSERT INTO items (name, note, flag, meta) VALUES (:name, :note, :flag, :meta)
  items.attrsOf:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    sql: SELECT name, note, flag, meta FROM items WHERE name = :name
    result: row
  items.find:
    params: { type: object, properties: { name: { type: string } }, required: [name] }
    sql: SELECT name FROM items WHERE name = :name
  literal:
    params: { type: object, properties: { x: { type: string } }, required: [x] }
    sql: "SELECT ':nope' AS a, :x AS b -- :zzz"
    result: row
  literal.dialect:
    params: { type: object, properties: { x: { type: string } }, required: [x] }
    sql: ./queries/dialect.sql
    result: row
  literal.multi:
    params: { type: object, properties: { x: { type: string } }, required: [x] }
    sql: |
      SELECT ':a' AS a, -- :b
             /* :c
                :d */ :x AS b,
             ':x' AS c
    result: row
  secret.table:
    sql: SELECT secret_column FROM secret_table
  secret.column:
    sql: SELECT secret_column FROM items
`;

describe.each(Object.keys(DRIVERS) as DriverName[])('SQL through routes on %s', (driver) => {
  let t: TestServer;
  let drop: (() => Promise<void>) | undefined;

  // A fresh database per test: the CRUD test counts rows and insert ids from an empty table.
  beforeEach(async () => {
    let database = `database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }`;
    let url = '';
    if (driver === 'mysql') {
      const db = await createTestDatabase();
      drop = db.drop;
      url = db.url;
      database = `database: { driver: mysql, url: "${db.url}", pool: 4, schema: [./schema.sql], migrate: true }`;
    }
    try {
      t = await startServer(`version: 1\n${database}\n${ROUTES}`, { 'schema.sql': DRIVERS[driver].schema, 'queries/dialect.sql': DRIVERS[driver].dialect });
      // The start prepares every statement: the table and the column go away once the server runs.
      const gone = ['DROP TABLE secret_table', 'ALTER TABLE items DROP COLUMN secret_column'];
      if (driver === 'mysql') {
        const conn = await mysql.createConnection(url);
        for (const sql of gone) await conn.query(sql);
        await conn.end();
      } else {
        const db = new Database(path.join(t.dir, 'data/app.db'));
        for (const sql of gone) db.exec(sql);
        db.close();
      }
    } catch (e) {
      await drop?.();
      drop = undefined;
      throw e;
    }
  });
  afterEach(async () => {
    await t?.close();
    await drop?.();
    drop = undefined;
  });

  it('create, read, update, delete with every result shape', async () => {
    const a = await t.client();
    expect(await call(a, 'items.count', {})).toEqual(ok(0));
    expect(await call(a, 'items.list', {})).toEqual(ok([]));
    expect(await call(a, 'items.get', { id: 1 })).toEqual(ok(null));
    expect(await call(a, 'items.add', { name: 'apple', qty: 3 })).toEqual(ok({ affectedRows: 1, insertId: 1 }));
    expect(await call(a, 'items.add', { name: 'pear' })).toEqual(ok({ affectedRows: 1, insertId: 2 }));
    expect(await call(a, 'items.add', { name: 'plum', qty: 9 })).toEqual(ok({ affectedRows: 1, insertId: 3 }));
    expect(await call(a, 'items.get', { id: 1 })).toEqual(ok({ id: 1, name: 'apple', qty: 3 }));
    expect(await call(a, 'items.list', {})).toEqual(
      ok([
        { id: 1, name: 'apple', qty: 3 },
        { id: 2, name: 'pear', qty: 0 },
        { id: 3, name: 'plum', qty: 9 },
      ]),
    );
    expect(await call(a, 'items.count', {})).toEqual(ok(3));
    expect(await call(a, 'items.range', { range: { min: 1, max: 5 } })).toEqual(ok([{ name: 'apple' }]));

    const updated = await call(a, 'items.setQty', { name: 'pear', qty: 4 });
    expect(updated).toMatchObject(ok({ affectedRows: 1 }));
    expect(Object.keys(updated.res).sort()).toEqual(['affectedRows', 'insertId']);
    expect(await call(a, 'items.setQty', { name: 'nothing', qty: 4 })).toMatchObject(ok({ affectedRows: 0 }));
    expect(await call(a, 'items.touch', { name: 'pear' })).toEqual(ok(null));
    expect(await call(a, 'items.get', { id: 2 })).toEqual(ok({ id: 2, name: 'pear', qty: 5 }));
    expect(await call(a, 'items.range', { range: { min: 1, max: 5 } })).toEqual(ok([{ name: 'apple' }, { name: 'pear' }]));

    expect(await call(a, 'items.remove', { name: 'plum' })).toMatchObject(ok({ affectedRows: 1 }));
    expect(await call(a, 'items.remove', { name: 'plum' })).toMatchObject(ok({ affectedRows: 0 }));
    expect(await call(a, 'items.count', {})).toEqual(ok(2));
  });

  it('a list of statements is one transaction: a failing step rolls back the others', async () => {
    const a = await t.client();
    const before = (await call(a, 'items.count', {})).res as number;
    expect(await call(a, 'items.pair', { a: 'tx-1', b: 'tx-2' })).toEqual(ok(before + 2));
    // The second insert breaks UNIQUE: the first must not stay.
    const r = await call(a, 'items.pair', { a: 'tx-3', b: 'tx-1' });
    expect(r).toMatchObject({ ok: false, res: false, code: 'DB_ERROR' });
    expect(r.err).not.toMatch(/INSERT|items|tx-1|Duplicate|UNIQUE/i);
    expect(await call(a, 'items.count', {})).toEqual(ok(before + 2));
    expect(await call(a, 'items.find', { name: 'tx-3' })).toEqual(ok([]));
    // The connection (mysql: the pooled one) is usable afterwards.
    expect(await call(a, 'items.pair', { a: 'tx-3', b: 'tx-4' })).toEqual(ok(before + 4));
  });

  it(':name inside quotes and comments is not a parameter', async () => {
    const a = await t.client();
    expect(await call(a, 'literal', { x: 'hello' })).toEqual(ok({ a: ':nope', b: 'hello' }));
    expect(await call(a, 'literal.dialect', { x: 'there' })).toEqual(ok({ a: "it's :nope", b: 'there' }));
    expect(await call(a, 'literal.multi', { x: 'multi' })).toEqual(ok({ a: ':a', b: 'multi', c: ':x' }));
  });

  it('binds null, booleans, objects and missing values', async () => {
    const a = await t.client();
    expect(await call(a, 'items.attrs', { name: 'b-true', note: null, flag: true, meta: { a: [1, 2], s: "x'y" } })).toMatchObject(ok({ affectedRows: 1 }));
    expect(await call(a, 'items.attrs', { name: 'b-false', note: 'n', flag: false })).toMatchObject(ok({ affectedRows: 1 }));
    expect(await call(a, 'items.attrsOf', { name: 'b-true' })).toEqual(ok({ name: 'b-true', note: null, flag: 1, meta: JSON.stringify({ a: [1, 2], s: "x'y" }) }));
    expect(await call(a, 'items.attrsOf', { name: 'b-false' })).toEqual(ok({ name: 'b-false', note: 'n', flag: 0, meta: null }));
  });

  it('injection strings are stored and read back literally; the table survives', async () => {
    const a = await t.client();
    const nasty = [`'; DROP TABLE items; --`, `" OR 1=1 --`, `\\' OR '1'='1`, `\\'; DROP TABLE items; #`, `Robert'); DROP TABLE items;--`, `:name ? %s $1`];
    for (const name of nasty) expect(await call(a, 'items.add', { name })).toMatchObject(ok({ affectedRows: 1 }));
    for (const name of nasty) expect(await call(a, 'items.find', { name })).toEqual(ok([{ name }]));
    expect(await call(a, 'items.find', { name: `x' OR '1'='1` })).toEqual(ok([]));
    const names = ((await call(a, 'items.list', {})).res as Array<{ name: string }>).map((r) => r.name);
    for (const name of nasty) expect(names).toContain(name);
  });

  it('DB_ERROR never carries the SQL, names or the driver message', async () => {
    const a = await t.client();
    for (const event of ['secret.table', 'secret.column']) {
      const r = await call(a, event, {});
      expect(r).toEqual({ ok: false, err: ERROR_CODES.DB_ERROR.message, res: false, code: 'DB_ERROR' });
      expect(JSON.stringify(r)).not.toMatch(/SELECT|secret|items|sockey_test|exist|unknown|no such|\bat\b/i);
    }
    expect(await call(a, 'items.count', {})).toMatchObject({ ok: true });
  });
});

import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestError } from '../src/manifest/diagnostics.js';
import { watchServer, type Watching } from '../src/reload/watcher.js';
import { eventually, ok } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { armWatcher, linesAt, rejectedLines, reloadedLines, spacedWriter, untilReloads, untilReply } from './support/reload-util.js';
import { call, startServer, tempApp, type TestServer } from './support/util.js';

let t: TestServer | undefined;
let w: Watching | undefined;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  await w?.close();
  w = undefined;
  await t?.close();
  t = undefined;
  for (const c of cleanups.splice(0)) await c();
});

/** A database of each kind, with SQL run on it from outside sockey. */
interface TestDb {
  /** The `database:` section's driver part. */
  section: string;
  /** The same database under other settings (a new pool: sockey opens it as a new database). */
  otherSection: string;
  exec(sql: string): Promise<void>;
}

async function testDb(driver: 'sqlite' | 'mysql'): Promise<TestDb> {
  if (driver === 'sqlite') {
    const dir = tempApp({});
    cleanups.push(dir.cleanup);
    const file = path.join(dir.dir, 'app.db');
    return {
      section: `driver: sqlite, file: "${file}"`,
      otherSection: `driver: sqlite, file: "${path.join(dir.dir, 'other.db')}"`,
      async exec(sql) {
        const db = new Database(file);
        db.exec(sql);
        db.close();
      },
    };
  }
  const maria = await createTestDatabase();
  cleanups.push(maria.drop);
  return {
    section: `driver: mysql, url: "${maria.url}", pool: 2`,
    otherSection: `driver: mysql, url: "${maria.url}", pool: 3`,
    async exec(sql) {
      const conn = await mysql.createConnection({ uri: maria.url, multipleStatements: true });
      await conn.query(sql);
      await conn.end();
    },
  };
}

const manifest = (database: string, routes: Record<string, string>) =>
  `version: 1\ndatabase: { ${database} }\nroutes:\n${Object.entries(routes)
    .map(([event, body]) => `  ${event}: ${body}`)
    .join('\n')}\n`;

async function serve(text: string, files: Record<string, string> = {}) {
  t = await startServer(text, files);
  w = watchServer(t.server);
  await armWatcher(t);
  return { t, client: await t.client(), write: spacedWriter(t) };
}

describe.each(['sqlite', 'mysql'] as const)('reloads against the live database (%s)', (driver) => {
  it('a reload whose SQL the database rejects is rejected, located, and the old version keeps serving; unchanged routes are not checked again', async () => {
    const db = await testDb(driver);
    await db.exec("CREATE TABLE people (name VARCHAR(20) NOT NULL); INSERT INTO people (name) VALUES ('ann'); CREATE TABLE other (x INT);");
    const routes = { q: '{ sql: SELECT name FROM people, result: value }', o: '{ sql: SELECT x FROM other }', n: '{ reply: 1 }' };
    const { t, client, write } = await serve(manifest(db.section, routes));
    expect(await call(client, 'q')).toEqual(ok('ann'));

    const from = t.logs.lines.length;
    const bad = manifest(db.section, { ...routes, q: '{ sql: SELECT nmae FROM people, result: value }', n: '{ reply: 2 }' });
    await write('sockey.yaml', bad);
    await eventually(
      () => rejectedLines(t).length,
      (k) => k === 1,
      'the reload to be rejected',
    );
    const line = bad.split('\n').findIndex((l) => l.includes('nmae')) + 1;
    const col = bad.split('\n')[line - 1]!.indexOf('SELECT nmae') + 1;
    const errors = linesAt(t, 50, from);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(new RegExp(`^sockey\\.yaml:${line}:${col} routes\\.q\\.sql: the database rejects this statement: .*nmae`));
    expect(errors[1]).toBe('reload (sockey.yaml changed) rejected: the previous version keeps serving');
    expect(await call(client, 'q')).toEqual(ok('ann'));
    expect(await call(client, 'n')).toEqual(ok(1));

    // The table of a route taken over unchanged goes away: the next reload does not prepare that route again.
    await db.exec('DROP TABLE other');
    const reloads = reloadedLines(t).length;
    await write('sockey.yaml', manifest(db.section, { ...routes, n: '{ reply: 3 }' }));
    await untilReply(client, 'n', undefined, ok(3), 'the fixed version to go live');
    await untilReloads(t, reloads + 1);
    expect(reloadedLines(t).at(-1)).toMatch(/: ~n; version [0-9a-f]{12}$/);
    expect(rejectedLines(t)).toHaveLength(1);
  });

  it('a server whose SQL the database rejects does not start; the check runs after the schema files are applied', async () => {
    const db = await testDb(driver);
    const text = manifest(`${db.section}, schema: [./schema.sql], migrate: true`, { good: '{ sql: SELECT name FROM people }', bad: '{ sql: SELECT nmae FROM people }' });
    const started = startServer(text, { 'schema.sql': 'CREATE TABLE IF NOT EXISTS people (name VARCHAR(20) NOT NULL);\n' });
    const error = await started.then(
      (s) => {
        t = s;
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ManifestError);
    const line = text.split('\n').findIndex((l) => l.includes('nmae')) + 1;
    const col = text.split('\n')[line - 1]!.indexOf('SELECT nmae') + 1;
    expect((error as Error).message.split('\n')).toEqual([expect.stringMatching(new RegExp(`^sockey\\.yaml:${line}:${col} routes\\.bad\\.sql: the database rejects this statement: .*nmae`))]);
  });

  it('schema files are applied again only when they (or the database settings) change', async () => {
    const db = await testDb(driver);
    // Each application of the schema file adds a row: the count is how often it ran on this database.
    const schema = 'CREATE TABLE IF NOT EXISTS applied (n INT);\nINSERT INTO applied (n) VALUES (1);\n';
    const section = (s: string) => `${s}, schema: [./schema.sql], migrate: true`;
    const routes = { count: '{ sql: SELECT COUNT(*) AS n FROM applied, result: value }', n: '{ description: one, reply: 1 }' };
    const { t, client, write } = await serve(manifest(section(db.section), routes), { 'schema.sql': schema });
    const count = async () => Number((await call(client, 'count')).res);
    const appliedLines = () => t.logs.lines.filter((l) => String(l.msg).startsWith('applied ')).length;
    // armWatcher rewrote the files with their own content: nothing changed, nothing was applied again.
    expect(await count()).toBe(1);
    expect(appliedLines()).toBe(1);

    let reloads = reloadedLines(t).length;
    await write('sockey.yaml', manifest(section(db.section), { ...routes, n: '{ description: two, reply: 1 }' }));
    await untilReloads(t, reloads + 1);
    expect(await count()).toBe(1);
    expect(appliedLines()).toBe(1);

    reloads = reloadedLines(t).length;
    await write('schema.sql', schema + '-- v2\n');
    await untilReloads(t, reloads + 1);
    expect(await count()).toBe(2);
    expect(appliedLines()).toBe(2);

    // Other database settings: a new database, applied there.
    reloads = reloadedLines(t).length;
    await write('sockey.yaml', manifest(section(db.otherSection), routes));
    await untilReloads(t, reloads + 1);
    expect(await count()).toBe(driver === 'sqlite' ? 1 : 3);
    expect(appliedLines()).toBe(3);
  });
});

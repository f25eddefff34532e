import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './support/child.js';
import { call, startServer, tempApp, type TestServer } from './support/util.js';

/** Runs the CLI in-process in `cwd`; returns the exit code, what it printed, and stderr's lines. */
async function run(argv: string[], cwd: string) {
  const r = await runCli(argv, cwd);
  return { ...r, lines: r.stderr.split('\n').filter(Boolean) };
}

let apps: Array<{ cleanup(): void }> = [];
let t: TestServer | undefined;
afterEach(async () => {
  for (const a of apps) a.cleanup();
  apps = [];
  await t?.close();
  t = undefined;
});

function app(files: Record<string, string>) {
  const a = tempApp(files);
  apps.push(a);
  return a;
}

describe('validate reports every problem in one run', () => {
  it('a schema problem in a route does not hide its other problems (sql, params, timers)', async () => {
    const a = app({
      'sockey.yaml': `version: 1
routes:
  a:
    auth: yes
    params: { type: object, properties: { room: { type: string } } }
    sql: SELECT * FROM t WHERE x = :rom AND y = '{{x}}'
  b:
    sql: SELECT 1
    timers:
      - every: 5 seconds
        reply: { x: 1 }
      - every: 1ms
        after: 1s
        reply: { x: 1 }
      - reply: { x: 1 }
  c:
    sqll: SELECT 1
    reply: { tag: "{{params.tag}}" }
    emit: { to: room }
`,
    });
    const r = await run(['validate'], a.dir);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      'sockey.yaml:4:11 routes.a.auth: must be one of: "none", "optional", "required"',
      'sockey.yaml:6:36 routes.a.sql: :rom is not a declared param; did you mean :room?',
      'sockey.yaml:6:50 routes.a.sql: sql must not contain "{{": values reach SQL only as :name parameters',
      'sockey.yaml:10:16 routes.b.timers.0.every: invalid value: expected milliseconds as a number, or a number with ms, s, m or h: 200ms, 5s, 1.5m, 2h.',
      'sockey.yaml:12:9 routes.b.timers.1: a timer needs exactly one of after or every',
      'sockey.yaml:12:16 routes.b.timers.1.every: every must be at least 10ms',
      'sockey.yaml:15:9 routes.b.timers.2: a timer needs exactly one of after or every',
      'sockey.yaml:17:5 routes.c.sqll: unknown property "sqll" (did you mean "sql"?)',
      'sockey.yaml:19:5 routes.c.emit: emit to: room needs a room (e.g. room: "room:{{params.room}}")',
      'sockey.yaml: 9 problems',
    ]);
  });

  it('--db prepares every statement that compiled, also when other routes (or the same one) have problems', async () => {
    const a = app({
      'sockey.yaml': `version: 1
database: { file: ./data/app.db, schema: [./schema.sql] }
routes:
  typo:
    auth: yes
    sql: SELECT id, nmae FROM people
  fine:
    sql: SELECT id FROM people WHERE id = :id
`,
      'schema.sql': 'CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT);\n',
    });
    const r = await run(['validate', '--db'], a.dir);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      'sockey.yaml:5:11 routes.typo.auth: must be one of: "none", "optional", "required"',
      expect.stringMatching(/^sockey\.yaml:6:10 routes\.typo\.sql: the database rejects this statement: .*nmae/),
      'sockey.yaml:8:43 routes.fine.sql: :id is not a declared param (the route declares no params)',
      'sockey.yaml: 3 problems',
    ]);
  });

  it('--db on an existing SQLite file reads it and writes nothing (schema files applied to an in-memory copy)', async () => {
    const a = app({
      'sockey.yaml': 'version: 1\ndatabase: { file: ./app.db, schema: [./schema.sql] }\nroutes:\n  old:\n    sql: SELECT id FROM people\n  new:\n    sql: SELECT id FROM pets\n',
      'schema.sql': 'CREATE TABLE IF NOT EXISTS pets (id INTEGER PRIMARY KEY);\n',
    });
    const { default: Database } = await import('better-sqlite3');
    const file = path.join(a.dir, 'app.db');
    const seed = new Database(file);
    seed.exec('CREATE TABLE people (id INTEGER PRIMARY KEY); INSERT INTO people VALUES (1);');
    seed.close();
    const before = readFileSync(file);
    const listing = readdirSync(a.dir).sort();
    const r = await run(['validate', '--db'], a.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(a.dir).sort()).toEqual(listing);
  });

  it('a duplicate key does not hide the rest of the file', async () => {
    const a = app({ 'sockey.yaml': 'version: 1\nroutes:\n  a: { reply: 1 }\n  a: { reply: 2 }\n  b: { sql: "SELECT :nope" }\n' });
    const r = await run(['validate'], a.dir);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      'sockey.yaml:4:3 duplicate key "a": keys must be unique (the last one would silently win)',
      'sockey.yaml:5:21 routes.b.sql: :nope is not a declared param (the route declares no params)',
      'sockey.yaml: 2 problems',
    ]);
  });

  it('one mistake is one line: emit: everyone', async () => {
    const a = app({ 'sockey.yaml': 'version: 1\nroutes:\n  c:\n    reply: 1\n    emit: everyone\n' });
    const r = await run(['validate'], a.dir);
    expect(r.lines).toEqual([expect.stringMatching(/^sockey\.yaml:5:11 routes\.c\.emit: invalid value: expected who receives the reply/), 'sockey.yaml: 1 problem']);
  });

  it("problems inside `sql: ./file.sql` point at the SQL file's own line:col", async () => {
    const a = app({
      'sockey.yaml': 'version: 1\nroutes:\n  list:\n    params: { type: object, properties: { room: { type: string } } }\n    sql: ./queries/list.sql\n',
      'queries/list.sql': '-- messages of a room\nSELECT id\n  FROM messages\n  WHERE room = :rom AND x = :auth.id;\n',
    });
    const r = await run(['validate'], a.dir);
    expect(r.lines).toEqual([
      'queries/list.sql:4:16 routes.list.sql: :rom is not a declared param; did you mean :room?',
      'queries/list.sql:4:29 routes.list.sql: :auth.id needs auth: required or optional on the route',
      'sockey.yaml: 2 problems',
    ]);
  });
});

describe('hook modules that do not compile', () => {
  it("validate prints the TypeScript error with the hook's file:line:col", async () => {
    const a = app({
      'sockey.yaml': 'version: 1\nroutes:\n  x:\n    hook: ./hooks/bad.ts#f\n',
      'hooks/bad.ts': 'export function f(ctx: unknown) {\n  return { out: 1 ;\n}\n',
    });
    const r = await run(['validate'], a.dir);
    expect(r.code).toBe(1);
    expect(r.lines[0]).toBe('sockey.yaml:4:11 routes.x.hook: hook module hooks/bad.ts failed to load: hooks/bad.ts:2:18: Expected "}" but found ";"');
  });
});

describe('params schemas', () => {
  it('a keyword indented under properties: is a located warning (a boolean, which passes as a schema) or a located error (not a schema)', async () => {
    const a = app({
      'sockey.yaml': `version: 1
routes:
  post:
    params:
      type: object
      properties:
        text: { type: string }
        required: [text]
        additionalProperties: false
        tags:
          type: array
          items:
            type: object
            properties:
              name: { type: string }
              maxLength: 20
        type: { type: string }
    reply: ok
`,
    });
    const r = await run(['validate'], a.dir);
    // required: [text] and maxLength: 20 are not schemas (ajv refuses them): errors that say why, once each.
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      'sockey.yaml:8:9 routes.post.params.properties.required: "required" is under properties:, so it must be a property\'s schema; if it is meant as the "required" keyword of the schema, indent it one level less',
      'sockey.yaml:9:9 routes.post.params.properties.additionalProperties: warning: "additionalProperties" is declared as a property (it is under properties:); if it is meant as the "additionalProperties" keyword of the schema, indent it one level less',
      expect.stringMatching(/^sockey\.yaml:16:15 routes\.post\.params\.properties\.tags\.items\.properties\.maxLength: "maxLength" is under properties:/),
      'sockey.yaml: 2 problems',
    ]);
    // additionalProperties: false alone passes as a schema: only the warning, and the route works.
    a.write('sockey.yaml', 'version: 1\nroutes:\n  post:\n    params:\n      type: object\n      properties:\n        text: { type: string }\n        additionalProperties: false\n    reply: ok\n');
    const warned = await run(['validate'], a.dir);
    expect(warned.code).toBe(0);
    expect(warned.lines).toEqual([expect.stringMatching(/^sockey\.yaml:8:9 routes\.post\.params\.properties\.additionalProperties: warning: /)]);
    expect(warned.stdout).toMatch(/ok/);
  });

  it('templates over an open schema (no params, or no additionalProperties: false) read any name: serve starts and answers', async () => {
    t = await startServer(
      'version: 1\ndatabase: { file: ./db.sqlite }\nroutes:\n  tag:\n    reply: { tag: "{{params.tag}}" }\n  open:\n    params: { type: object, properties: { a: { type: integer } } }\n    reply: { b: "{{params.b}}" }\n',
    );
    const s = await t.client();
    expect(await call(s, 'tag', { tag: 'x' })).toEqual({ ok: true, err: false, res: { tag: 'x' } });
    expect(await call(s, 'open', { b: 'y' })).toEqual({ ok: true, err: false, res: { b: 'y' } });
  });
});

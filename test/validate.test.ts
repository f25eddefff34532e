import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileManifestFile } from '../src/compile/table.js';
import { ROOT, runCli, sockey } from './support/child.js';
import { createTestDatabase } from './support/mysql.js';
import { tempApp } from './support/util.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/validate/', import.meta.url));
const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

interface Expected {
  code: string;
  line: number;
  col: number;
  /** Dotted manifest path; empty for the document itself. */
  path: string;
  /** Text the message must contain. */
  text: string;
}

/** Runs the CLI in-process (in the fixtures folder unless told); returns the exit code and what it printed. */
const run = (argv: string[], cwd = FIXTURES) => runCli(argv, cwd);

/** Runs the built bin as a child process. */
const spawn = (argv: string[], cwd = FIXTURES) => sockey(argv, cwd);

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** `file:LINE:COL path: ` (no path part for the document itself). */
const prefix = (file: string, e: Expected) => `${file}:${e.line}:${e.col} ${e.path ? `${e.path}: ` : ''}`;

function expectDiagnostics(file: string, stderr: string, expected: Expected[]) {
  const printed = lines(stderr);
  // One line per problem, then the count.
  expect(printed.at(-1)).toBe(`${file}: ${expected.length} problem${expected.length === 1 ? '' : 's'}`);
  const problems = printed.slice(0, -1);
  for (const e of expected) {
    const match = problems.filter((l) => l.startsWith(prefix(file, e)) && l.includes(e.text));
    expect(match, `a line "${prefix(file, e)}... ${e.text} ..." in:\n${stderr}`).toHaveLength(1);
  }
  expect(problems, stderr).toHaveLength(expected.length);
  // Every problem line has the documented shape.
  for (const l of problems) expect(l).toMatch(/^[\w.-]+\.yaml:\d+:\d+ (\S+: )?\S/);
}

const fixtureNames = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.yaml') && f !== 'clean.yaml')
  .sort();

describe('sockey validate: fixtures (in-process)', () => {
  it('has an expectation file for every fixture', () => {
    expect(fixtureNames.length).toBeGreaterThanOrEqual(15);
    for (const f of fixtureNames) expect(existsSync(path.join(FIXTURES, f.replace(/\.yaml$/, '.json'))), f).toBe(true);
  });

  describe.each(fixtureNames)('%s', (file) => {
    const expected: Expected[] = JSON.parse(readFileSync(path.join(FIXTURES, file.replace(/\.yaml$/, '.json')), 'utf8'));

    it('prints every problem as file:line:col path: message and exits 1', async () => {
      const r = await run(['validate', file]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expectDiagnostics(file, r.stderr, expected);
    });

    it('reports the expected diagnostic codes at the expected places', async () => {
      const result = await compileManifestFile(file, FIXTURES, { strictEnv: false });
      expect(result.table).toBeUndefined();
      const errors = result.diagnostics.filter((d) => d.severity === 'error').map((d) => ({ code: d.code, line: d.line, col: d.col, path: d.path.join('.') }));
      expect(errors.sort(byPlace)).toEqual(expected.map(({ code, line, col, path }) => ({ code, line, col, path })).sort(byPlace));
    });
  });
});

function byPlace(a: { line: number; col: number }, b: { line: number; col: number }) {
  return a.line - b.line || a.col - b.col;
}

describe('sockey validate: the bin', () => {
  it('prints all problems of a file with several at once, exit 1', () => {
    const expected: Expected[] = JSON.parse(readFileSync(path.join(FIXTURES, 'several.json'), 'utf8'));
    expect(expected.length).toBeGreaterThanOrEqual(7);
    const r = spawn(['validate', 'several.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expectDiagnostics('several.yaml', r.stderr, expected);
  });

  it('a clean manifest prints one summary line on stdout and exits 0', () => {
    const r = spawn(['validate', 'clean.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(1);
    expect(r.stdout).toMatch(/^clean\.yaml: ok \(4 routes\b.*sqlite.*\)\n$/);
  });

  it('keeps the path as given, relative to where it runs', async () => {
    const r = await run(['validate', 'test/fixtures/validate/reserved.yaml'], ROOT);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)[0]).toMatch(/^test\/fixtures\/validate\/reserved\.yaml:3:3 routes\.disconnect: /);
    const ok = await run(['validate', path.join(FIXTURES, 'clean.yaml')], ROOT);
    expect(ok.code).toBe(0);
  });

  it('a missing manifest is one located problem, exit 1', async () => {
    const r = await run(['validate', 'nope.yaml']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)[0]).toMatch(/^nope\.yaml:1:1 .*(no such file|cannot read)/);
  });

  it('--help exits 0 for every verb, --version prints the version, an unknown verb exits 2', async () => {
    for (const verb of ['serve', 'validate', 'routes', 'types', 'asyncapi', 'init', 'db']) {
      const r = await run([verb, '--help']);
      expect(r.code, verb).toBe(0);
      expect(r.stdout, verb).toMatch(new RegExp(`^Usage: sockey ${verb}\\b`));
      expect(r.stderr).toBe('');
    }
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sockey /);

    const v = spawn(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`${VERSION}\n`);
    expect((await run(['-v'])).stdout).toBe(`${VERSION}\n`);

    const unknown = spawn(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    expect((await run(['validate', '--no-such-flag'])).code).toBe(2);
  });
});

describe('sockey validate: server.port', () => {
  const manifest = (port: string) => `version: 1\nserver:\n  port: ${port}\nroutes:\n  ping: { reply: pong }\n`;

  it('the JSON Schema editors use refuses a port string that is not one {{env.NAME}} template', () => {
    const ajv = new Ajv2020({ strict: false });
    const valid = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'schema/sockey.schema.json'), 'utf8')));
    const withPort = (port: unknown) => valid({ version: 1, server: { port }, routes: { ping: { reply: 'pong' } } });
    expect([8081, 0, 65535, '{{env.PORT}}', '{{ env.SOCKEY_APP_PORT }}'].map(withPort)).toEqual([true, true, true, true, true]);
    expect(['abc', '8081', '{{env.PORT}}0', '{{params.port}}', 65536, -1, 80.5].map(withPort)).toEqual([false, false, false, false, false, false, false]);
  });

  it('validate: a string that is not one {{env.NAME}} template is a SCHEMA problem at its line:col; "{{env.PORT}}" passes', async () => {
    const a = tempApp({ 'sockey.yaml': manifest('"abc"') });
    try {
      const r = await run(['validate'], a.dir);
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^sockey\.yaml:3:9 server\.port: invalid value: expected a TCP port from 0 to 65535/), 'sockey.yaml: 1 problem']);
      const result = await compileManifestFile('sockey.yaml', a.dir, { strictEnv: false });
      expect(result.diagnostics.map((d) => [d.code, d.line, d.col, d.path.join('.')])).toEqual([['SCHEMA', 3, 9, 'server.port']]);
      for (const other of ['"8081"', '"{{env.PORT}}x"', '"{{env.A}}{{env.B}}"', '70000']) {
        a.write('sockey.yaml', manifest(other));
        const d = (await compileManifestFile('sockey.yaml', a.dir, { strictEnv: false })).diagnostics;
        expect(
          d.map((x) => [x.code, x.path.join('.')]),
          other,
        ).toEqual([['SCHEMA', 'server.port']]);
      }

      // One {{env.NAME}} passes, and validate still checks the value it is filled with.
      a.write('sockey.yaml', manifest('"{{env.PORT}}"'));
      const ok = await runCli(['validate'], a.dir, { ...process.env, PORT: '9000' });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      const filled = await compileManifestFile('sockey.yaml', a.dir, { env: { PORT: '9000' }, strictEnv: false });
      expect(filled.settings?.server.port).toBe(9000);
      const bad = await runCli(['validate'], a.dir, { ...process.env, PORT: 'abc' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^sockey\.yaml:3:9 server\.port: port must be an integer from 0 to 65535, got "abc"/m);
      a.write('sockey.yaml', manifest('"{{ env.PORT }}"'));
      expect((await runCli(['validate'], a.dir, { ...process.env, PORT: '9001' })).code).toBe(0);
    } finally {
      a.cleanup();
    }
  });
});

const DB_SCHEMA = {
  sqlite: 'CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(40) NOT NULL, age INTEGER);\n',
  mysql: 'CREATE TABLE IF NOT EXISTS people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, age INT) ENGINE=InnoDB;\n',
};

/** Line 7: the typo'd column; lines 14-15: a list whose second statement has a typo. */
function typoManifest(database: string) {
  return `version: 1
${database}
routes:
  people.list:
    sql: SELECT id, name, age FROM people ORDER BY id
  people.typo:
    sql: SELECT id, nmae FROM people
  people.rename:
    params:
      type: object
      properties: { name: { type: string } }
      required: [name]
    sql:
      - UPDATE people SET age = 1 WHERE name = :name
      - UPDATE people SET agee = 2 WHERE name = :name
`;
}

describe.each(['sqlite', 'mysql'] as const)('sockey validate --db against %s', (driver) => {
  let app: ReturnType<typeof tempApp>;
  let drop: (() => Promise<void>) | undefined;
  let database = 'database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql] }';

  beforeAll(async () => {
    if (driver === 'mysql') {
      const db = await createTestDatabase();
      drop = db.drop;
      database = `database: { driver: mysql, url: "${db.url}", schema: [./schema.sql] }`;
    }
    app = tempApp({ 'sockey.yaml': typoManifest(database), 'schema.sql': DB_SCHEMA[driver] });
    if (driver === 'mysql') {
      // MySQL statements are prepared against the live database: migrate it first.
      const m = await run(['db', 'migrate'], app.dir);
      expect(m.code, m.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    app?.cleanup();
    await drop?.();
  });

  it('passes without --db (no database is opened)', async () => {
    const r = await run(['validate'], app.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it("catches a column typo, naming the statement's line; exit 1", async () => {
    const r = await run(['validate', '--db'], app.dir);
    expect(r.code).toBe(1);
    const printed = lines(r.stderr);
    expect(printed.at(-1)).toBe('sockey.yaml: 2 problems');
    expect(printed[0]).toMatch(/^sockey\.yaml:7:10 routes\.people\.typo\.sql: .*nmae/);
    // In a list, the statement that fails is the one named.
    expect(printed[1]).toMatch(/^sockey\.yaml:15:9 routes\.people\.rename\.sql(\.1)?: .*agee/);
    expect(printed).toHaveLength(3);
    if (driver === 'sqlite') expect(existsSync(path.join(app.dir, 'data/app.db'))).toBe(false);
  });

  it('passes --db once the statements are right', async () => {
    // A folder of its own (the same database): the other tests keep their typos.
    const fixed = tempApp({ 'sockey.yaml': typoManifest(database).replace('nmae', 'name').replace('agee', 'age'), 'schema.sql': DB_SCHEMA[driver] });
    try {
      const r = await run(['validate', '--db'], fixed.dir);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(lines(r.stdout)).toEqual([expect.stringMatching(new RegExp(`^sockey\\.yaml: ok \\(3 routes.*${driver}, SQL checked against the database\\)$`))]);
    } finally {
      fixed.cleanup();
    }
  });
});

describe('sockey validate --db against a MySQL server that refuses the login', () => {
  it('prints the connection error once, at database, stops there, and never prints the password', async () => {
    const db = await createTestDatabase();
    try {
      const url = new URL(db.url);
      url.password = 'Wr0ng-s3cret';
      const app = tempApp({ 'sockey.yaml': typoManifest(`database: { driver: mysql, url: "${url}" }`) });
      try {
        const r = await run(['validate', '--db'], app.dir);
        expect(r.code).toBe(1);
        const printed = lines(r.stderr);
        expect(printed).toEqual([expect.stringMatching(/^sockey\.yaml:2:1 database: cannot reach the database: Access denied for user /), 'sockey.yaml: 1 problem']);
        expect(r.stdout + r.stderr).not.toContain('Wr0ng-s3cret');
      } finally {
        app.cleanup();
      }
    } finally {
      await db.drop();
    }
  });
});

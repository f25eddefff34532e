import { afterEach, describe, expect, it } from 'vitest';
import { compileManifestFile, type RouteTable } from '../../src/compile/table.js';
import { manifestOf, tempApp } from '../support/util.js';

/**
 * A route's fingerprint decides whether a reload keeps it or compiles it
 * again. Tested through the public compile function (wherever the
 * fingerprint is computed): an unchanged route keeps its fingerprint and,
 * given the previous table, is the very same object; a change of its entry,
 * of a file it reads, or of a setting it depends on changes it.
 */

const ROUTES = {
  hello: '{ reply: hi }',
  list: '{ sql: SELECT 1 AS n }',
  q: '{ sql: ./q.sql, result: value }',
  greet: '{ hook: ./hooks/greet.mjs#greet }',
};

const manifest = (routes: Record<string, string> = ROUTES, head?: string) => manifestOf(routes, head);

const FILES = {
  'q.sql': 'SELECT 1;\n',
  'hooks/greet.mjs': "import { WORD } from './words.mjs';\nexport const greet = () => WORD;\n",
  'hooks/words.mjs': "export const WORD = 'alpha';\n",
};

let app: ReturnType<typeof tempApp> | undefined;
afterEach(() => {
  app?.cleanup();
  app = undefined;
});

async function compile(previous?: RouteTable): Promise<RouteTable> {
  const r = await compileManifestFile('sockey.yaml', app!.dir, { strictEnv: false, previous });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.table!;
}

const fingerprints = (table: RouteTable) => Object.fromEntries([...table.routes].map(([event, route]) => [event, route.fingerprint]));

/** The routes whose fingerprint differs between two tables. */
const changed = (a: RouteTable, b: RouteTable) => Object.keys(ROUTES).filter((e) => a.routes.get(e)!.fingerprint !== b.routes.get(e)!.fingerprint);

describe('route fingerprints (compileManifestFile)', () => {
  it('compiling the same files twice gives the same fingerprints; with the previous table, the same routes', async () => {
    app = tempApp({ 'sockey.yaml': manifest(), ...FILES });
    const first = await compile();
    const again = await compile();
    expect(Object.keys(fingerprints(first)).sort()).toEqual(Object.keys(ROUTES).sort());
    for (const fp of Object.values(fingerprints(first))) expect(typeof fp === 'string' && fp.length > 0).toBe(true);
    expect(fingerprints(again)).toEqual(fingerprints(first));
    const reused = await compile(first);
    for (const event of Object.keys(ROUTES)) expect(reused.routes.get(event), event).toBe(first.routes.get(event));
  });

  it('a changed entry changes that route only, and only that route is compiled again', async () => {
    app = tempApp({ 'sockey.yaml': manifest(), ...FILES });
    const first = await compile();
    app.write('sockey.yaml', manifest({ ...ROUTES, hello: '{ reply: hello }' }));
    const next = await compile(first);
    expect(changed(first, next)).toEqual(['hello']);
    expect(next.routes.get('hello')).not.toBe(first.routes.get('hello'));
    expect(next.routes.get('list')).toBe(first.routes.get('list'));
    // A description is part of the entry too.
    app.write('sockey.yaml', manifest({ ...ROUTES, list: '{ sql: SELECT 1 AS n, description: counts }' }));
    expect(changed(first, await compile())).toEqual(['list']);
  });

  it('a changed SQL file changes the route that reads it', async () => {
    app = tempApp({ 'sockey.yaml': manifest(), ...FILES });
    const first = await compile();
    app.write('q.sql', 'SELECT 2;\n');
    expect(changed(first, await compile(first))).toEqual(['q']);
  });

  it('a changed hook module, or a module it imports, changes the hook route', async () => {
    app = tempApp({ 'sockey.yaml': manifest(), ...FILES });
    const first = await compile();
    app.write('hooks/greet.mjs', "import { WORD } from './words.mjs';\nexport const greet = () => WORD + '!';\n");
    const second = await compile(first);
    expect(changed(first, second)).toEqual(['greet']);
    app.write('hooks/words.mjs', "export const WORD = 'beta';\n");
    const third = await compile(second);
    expect(changed(second, third)).toEqual(['greet']);
    expect(third.hookFiles.map((f) => f.slice(app!.dir.length + 1)).sort()).toEqual(['hooks/greet.mjs', 'hooks/words.mjs']);
  });

  it('a changed shared setting (socket suffixes, the default rate limit) changes every route', async () => {
    app = tempApp({ 'sockey.yaml': manifest(), ...FILES });
    const first = await compile();
    app.write('sockey.yaml', manifest(ROUTES, 'database: { driver: sqlite, file: ./data/app.db }\nsocket: { data: _ok }'));
    expect(changed(first, await compile(first))).toEqual(Object.keys(ROUTES));
    app.write('sockey.yaml', manifest(ROUTES, 'database: { driver: sqlite, file: ./data/app.db }\nserver: { rateLimit: { count: 5, per: 1s } }'));
    expect(changed(first, await compile(first))).toEqual(Object.keys(ROUTES));
  });

  it('a changed database or auth setting changes the routes that use the database (sql, hooks), not the others', async () => {
    app = tempApp({ 'sockey.yaml': manifest(), ...FILES });
    const first = await compile();
    app.write('sockey.yaml', manifest(ROUTES, 'database: { driver: sqlite, file: ./data/other.db }'));
    expect(changed(first, await compile(first))).toEqual(['list', 'q', 'greet']);
    app.write('sockey.yaml', manifest(ROUTES, 'database: { driver: sqlite, file: ./data/app.db }\nauth: { bcryptCost: 5 }'));
    expect(changed(first, await compile(first))).toEqual(['list', 'q', 'greet']);
    // Settings no route depends on change none.
    app.write('sockey.yaml', manifest(ROUTES, 'database: { driver: sqlite, file: ./data/app.db }\nserver: { port: 9999 }'));
    expect(changed(first, await compile(first))).toEqual([]);
  });
});

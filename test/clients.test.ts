import { spawnSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from '@asyncapi/parser';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT, runCli, sockey } from './support/child.js';
import { tempApp } from './support/util.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function app(files: Record<string, string>) {
  const a = tempApp(files);
  cleanups.push(a.cleanup);
  return a;
}

/** A few routes of every kind the declarations tell apart: nested params with enums, a live route, auth, an emit rename, presence, a templated event name. */
const MANIFEST = `version: 1
database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql] }
auth: { registerEmail: false }
routes:
  cards.add:
    description: Adds a card to a board.
    auth: required
    params:
      type: object
      properties:
        board: { type: integer, minimum: 1 }
        card:
          type: object
          properties:
            title: { type: string, minLength: 1 }
            col: { type: string, enum: [todo, doing, done], default: todo }
            tags: { type: array, items: { type: string } }
          required: [title]
          additionalProperties: false
      required: [board, card]
      additionalProperties: false
    sql: INSERT INTO cards (board_id, title, col) VALUES (:board, :card.title, :card.col)
    result: affected
    emit: { to: room, room: "board:{{params.board}}", event: card.added }
  cards.live:
    auth: required
    params: { type: object, properties: { board: { type: integer } }, required: [board], additionalProperties: false }
    live: true
    sql: SELECT id, title, col, count(*) AS n FROM cards WHERE board_id = :board GROUP BY id
  boards.open:
    auth: required
    params: { type: object, properties: { board: { type: integer } }, required: [board], additionalProperties: false }
    join: { room: "board:{{params.board}}", presence: true }
    reply: { board: "{{params.board}}", by: "{{auth.name}}" }
  notify:
    params: { type: object, properties: { kind: { type: string, enum: [info, alert] } }, required: [kind] }
    reply: { kind: "{{params.kind}}" }
    emit: { to: all, event: "note.{{params.kind}}" }
`;
const SCHEMA = 'CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY, board_id INTEGER, title TEXT, col TEXT);\n';

/** A client of that manifest, written against the generated declarations: it must compile. */
const CLIENT = `import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents, SockeyHandshakeAuth } from './events.js';

const auth: SockeyHandshakeAuth = { name: 'ada', token: 'a token' };
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io('http://localhost:8081', { auth });

export async function main(): Promise<void> {
  const login = await socket.emitWithAck('auth', { type: 'login', user: { name: 'ada', password: 'pa55!word', persistent: true } });
  if (login.ok && 'token' in login.res) console.log(login.res.token.toUpperCase());
  const added = await socket.emitWithAck('cards.add', { board: 7, card: { title: 'Write', col: 'doing', tags: ['docs'] } });
  if (added.ok) console.log(added.res.affectedRows + 1, added.res.insertId);
  else console.log(added.code, added.err);
  socket.emit('cards.add', { board: 7, card: { title: 'Old protocol' }, user: { name: 'ada', key: 'a token' } }, (r) => console.log(r.ok));
  socket.on('card.added', (e) => console.log(e.res.affectedRows));
  socket.on('cards.live_data', (e) => console.log(e.res.map((row) => row.n + 1)));
  socket.on('cards.live_error', (e) => {
    if (e.code === 'LIVE_ENDED') console.log(e.details.reason, e.details.params.board + 1);
  });
  socket.on('note.alert', (e) => console.log(e.res.kind === 'alert'));
  socket.on('presence.join', (e) => console.log(e.res.room, e.res.user.name));
  socket.on('auth_data', (e) => console.log(e.res));
  const open = await socket.emitWithAck('boards.open', { board: 1 });
  if (open.ok) console.log(open.res.board + 1, open.res.by.length);
  const off = await socket.emitWithAck('live', { type: 'unsubscribe', event: 'cards.live', params: { board: 7 } });
  if (off.ok) console.log(off.res.unsubscribed);
}
`;

/** The same client with wrong payloads: a string board, a misspelled nested property. */
const WRONG = `import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from './events.js';

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io('http://localhost:8081');
export const a = socket.emitWithAck('cards.add', { board: 'seven', card: { title: 'x' } });
export const b = socket.emitWithAck('cards.add', { board: 7, card: { titel: 'x' } });
`;

const TSCONFIG = JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: false, types: [] } });

/** The repository's own tsc on `dir`'s tsconfig.json (its node_modules is the repository's). */
function tsc(dir: string) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--pretty', 'false'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('sockey types', () => {
  it('prints declarations that type a socket.io-client: a correct client compiles, a wrong payload does not', { timeout: 90_000 }, async () => {
    const a = app({ 'sockey.yaml': MANIFEST, 'schema.sql': SCHEMA });
    const r = await runCli(['types'], a.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const dts = r.stdout;
    // Every route, the built-ins and what they send, by their quoted names.
    for (const name of ['"cards.add"', '"cards.live"', '"boards.open"', '"notify"', '"auth"', '"live"']) expect(dts).toContain(`  ${name}: (params: RouteParams[${name}]`);
    for (const name of ['"card.added"', '"cards.live_data"', '"cards.live_error"', '"cards.add_error"', '"auth_data"', '"auth_error"', '"presence.join"', '"presence.leave"', '"live_data"']) {
      expect(dts).toContain(`  ${name}: (envelope: `);
    }
    expect(dts).toContain('[event: `note.${string}`]: (envelope: ');
    expect(dts).not.toContain('"cards.add_data"'); // renamed: the room hears card.added
    expect(dts).toMatch(/"cards\.live_error": \(envelope: .*SockeyLiveEnded<"cards\.live">/);
    expect(dts).toMatch(/col\?: "todo" \| "doing" \| "done";/);
    expect(dts).toMatch(/"cards\.add": SockeyAffected;/);
    expect(dts).toMatch(/export interface SockeyAffected \{ affectedRows: number; insertId: number \| string \| null \}/);
    expect(dts).toMatch(/export type SockeyErrorCode = "VALIDATION" \| .*"LIVE_ENDED"( \| "[A-Z_]+")*;/);

    a.write('events.d.ts', dts);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(a.dir, 'node_modules'), 'dir');
    a.write('client.ts', CLIENT);
    a.write('tsconfig.json', TSCONFIG.replace('}}', '}, "files": ["client.ts"] }'));
    const good = tsc(a.dir);
    expect(good.out).toBe('');
    expect(good.code).toBe(0);

    a.write('wrong.ts', WRONG);
    writeFileSync(path.join(a.dir, 'tsconfig.json'), TSCONFIG.replace('}}', '}, "files": ["wrong.ts"] }'));
    const bad = tsc(a.dir);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/^wrong\.ts\(5,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/m);
    expect(bad.out).toMatch(/^wrong\.ts\(6,\d+\): error TS\d+: .*'titel' does not exist/m);
  });

  it('runs as the bin: the default manifest, to stdout', () => {
    const r = sockey(['types'], ROOT);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('export interface ClientToServerEvents {');
    expect(r.stdout).toContain('"messages.new": (envelope: SockeyDataEnvelope<RouteResults["messages.post"]>) => void;');
    expect(r.stdout).toContain('export interface EchoParams {\n  text: string;\n}');
  });

  it('a manifest with problems: the diagnostics on stderr, nothing on stdout, exit 1', async () => {
    const a = app({ 'sockey.yaml': 'version: 1\nroutes:\n  x:\n    sqll: SELECT 1\n' });
    for (const verb of ['types', 'asyncapi']) {
      const r = await runCli([verb], a.dir);
      expect(r.code, verb).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^sockey\.yaml:4:5 routes\.x\.sqll: unknown property "sqll"/m);
    }
  });
});

/** @asyncapi/parser's diagnostics of severity error (0). */
async function asyncapiErrors(text: string) {
  const { document, diagnostics } = await new Parser().parse(text);
  return { document, errors: diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code} ${d.path.join('.')}: ${d.message}`) };
}

describe('sockey asyncapi', () => {
  it('prints an AsyncAPI 3.0 document the official parser accepts (YAML, and JSON with --json)', { timeout: 60_000 }, async () => {
    const a = app({ 'sockey.yaml': MANIFEST, 'schema.sql': SCHEMA });
    const yaml = await runCli(['asyncapi'], a.dir);
    expect(yaml.stderr).toBe('');
    expect(yaml.code).toBe(0);
    const parsed = await asyncapiErrors(yaml.stdout);
    expect(parsed.errors).toEqual([]);
    expect(parsed.document).toBeDefined();

    const json = await runCli(['asyncapi', '--json'], a.dir);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(doc).toEqual(parseYaml(yaml.stdout));
    expect(doc.asyncapi).toBe('3.0.0');
    // A route: a channel, a send operation whose message's payload is the params schema, and a reply on the ack.
    expect(doc.channels['cards.add']).toMatchObject({ address: 'cards.add' });
    expect(doc.components.schemas['cards.add.params']).toEqual(parseYaml(MANIFEST).routes['cards.add'].params);
    expect(doc.operations['cards.add']).toMatchObject({ action: 'send', reply: { channel: { $ref: '#/channels/cards.add.ack' } } });
    expect(doc.operations['cards.add'].security).toEqual([{ $ref: '#/components/securitySchemes/sockeyHandshake' }, { $ref: '#/components/securitySchemes/sockeyMessageKey' }]);
    expect(doc.operations.notify.security).toBeUndefined();
    expect(Object.keys(doc.components.securitySchemes)).toEqual(['sockeyHandshake', 'sockeyMessageKey']);
    // What a client receives.
    for (const event of ['card.added', 'cards.live_data', 'cards.live_error', 'auth_data', 'presence.join', 'live_data']) {
      const id = Object.keys(doc.channels).find((k) => doc.channels[k].address === event);
      expect(id, event).toBeDefined();
      expect(doc.operations[id!].action).toBe('receive');
    }
    const live = Object.values(doc.channels).find((c: any) => c.address === 'cards.live_error') as any;
    expect(Object.keys(live.messages)).toEqual(['error', 'liveEnded']);
    expect(Object.values(doc.channels).find((c: any) => c.address === 'note.{kind}')).toMatchObject({ parameters: { kind: {} } });
    expect(doc.components.schemas['cards.add.result']).toEqual({ $ref: '#/components/schemas/SockeyAffected' });
  });

  it('a params schema with local $refs (definitions, $defs) converts and validates where it now lives', { timeout: 60_000 }, async () => {
    const a = app({
      'sockey.yaml': `version: 1
auth: { enabled: false }
routes:
  shapes.draw:
    params:
      type: object
      properties: { at: { $ref: "#/definitions/point" }, color: { $ref: "#/definitions/color" } }
      required: [at]
      definitions: { point: { type: object, properties: { x: { type: number } }, required: [x] }, color: { enum: [red, blue] } }
    reply: { color: "{{params.color}}" }
  shapes.fill:
    params:
      type: object
      $defs: { color: { enum: [red, blue] } }
      properties: { color: { $ref: "#/$defs/color" } }
    reply: ok
  shapes.odd:
    params: { type: object, definitions: { a: { type: string } }, $defs: { b: { type: string } }, properties: { n: { $ref: "#/$defs/b" } } }
    reply: ok
`,
    });
    const types = await runCli(['types'], a.dir);
    expect(types.stderr).toBe('');
    expect(types.code).toBe(0);
    expect(types.stdout).toMatch(/export interface ShapesDrawParams \{\n {2}at: Point;\n {2}color\?: "red" \| "blue";/);
    expect(types.stdout).toMatch(/export interface Point \{\n {2}x: number;/);
    expect(types.stdout).toMatch(/export interface ShapesFillParams \{\n {2}color\?: "red" \| "blue";/);
    // A schema json-schema-to-typescript refuses (definitions and $defs both) is any object; the others still convert.
    expect(types.stdout).toMatch(/could not be converted: .*\n.*\n {2}"shapes\.odd": Record<string, unknown>;/);
    const r = await runCli(['asyncapi'], a.dir);
    expect(r.code).toBe(0);
    expect((await asyncapiErrors(r.stdout)).errors).toEqual([]);
    expect(parseYaml(r.stdout).components.schemas['shapes.draw.params'].properties.at).toEqual({ $ref: '#/components/schemas/shapes.draw.params/definitions/point' });
  });

  it.each(['sockey.yaml', 'examples/kanban/sockey.yaml'])('the repository manifest %s gives a document without errors', { timeout: 60_000 }, async (file) => {
    const r = await runCli(['asyncapi', file], ROOT);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await asyncapiErrors(r.stdout)).errors).toEqual([]);
  });
});

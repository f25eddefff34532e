import { afterEach, describe, expect, it } from 'vitest';
import { compileManifestFile } from '../src/compile/table.js';
import { Reloader } from '../src/reload/swap.js';
import { eventually, flush } from './support/flow.js';
import { runCli } from './support/child.js';
import { call, collect, sleep, startServer, tempApp, type TestServer } from './support/util.js';

/** SPEC §6 schedules, in one process (cluster.test.ts runs them on three). */
let t: TestServer | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

const HEAD = 'version: 1\ndatabase: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }\nauth: { enabled: false }\n';
const SCHEMA = 'CREATE TABLE IF NOT EXISTS beats (tick INTEGER PRIMARY KEY, at TEXT);\n';

type Envelope = { ok: boolean; res: any };

describe('schedules (one process)', () => {
  it('an every: 50ms schedule with emit: all reaches a client on every tick, ticks aligned to the epoch', async () => {
    t = await startServer(`${HEAD}schedules:\n  beat:\n    every: 50ms\n    reply: { beat: true, tick: "{{tick}}", now: "{{now}}", name: "{{event}}" }\n    emit: all\n`, { 'schema.sql': SCHEMA });
    const client = await t.client();
    const seen = collect<Envelope>(client, 'beat_data');
    await eventually(
      () => seen.length,
      (n) => n >= 6,
      'six beats',
    );
    const ticks = seen.map((e) => e.res.tick as number);
    expect(seen[0]).toMatchObject({ ok: true, err: false, res: { beat: true, name: 'beat', now: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } });
    for (const tick of ticks) expect(tick % 50).toBe(0);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]!).toBeGreaterThan(ticks[i - 1]!);
  });

  it('a cron schedule (six fields, seconds first) fires on its times', async () => {
    t = await startServer(`${HEAD}schedules:\n  sec:\n    cron: "* * * * * *"\n    reply: "{{tick}}"\n    emit: { to: all, event: second }\n`, { 'schema.sql': SCHEMA });
    const client = await t.client();
    const seen = collect<Envelope>(client, 'second');
    await eventually(
      () => seen.length,
      (n) => n >= 2,
      'two seconds',
    );
    const ticks = seen.map((e) => Number(e.res));
    for (const tick of ticks) expect(tick % 1000).toBe(0);
    // One a second (a second skipped only if this machine stalls for longer than that).
    expect([1000, 2000]).toContain(ticks[1]! - ticks[0]!);
  });

  it('sql binds :tick; a room target reaches the room only; emit.event names the event', async () => {
    t = await startServer(
      `${HEAD}routes:
  enter: { join: lobby, reply: { in: true } }
schedules:
  record:
    every: 50ms
    sql: [ "INSERT INTO beats (tick, at) VALUES (:tick, :now)", "SELECT COUNT(*) AS n FROM beats" ]
    result: value
    emit: { to: room, room: lobby, event: beats.count }
`,
      { 'schema.sql': SCHEMA },
    );
    const [inside, outside] = [await t.client(), await t.client()];
    expect(await call(inside, 'enter')).toMatchObject({ ok: true });
    const got = collect<Envelope>(inside, 'beats.count');
    const stray = collect<Envelope>(outside, 'beats.count');
    await eventually(
      () => got.length,
      (n) => n >= 3,
      'three counts',
    );
    const counts = got.map((e) => e.res as number);
    for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThan(counts[i - 1]!);
    expect(stray).toEqual([]);
  });

  it('a failing action is logged once per failure and the schedule runs on', async () => {
    t = await startServer(`${HEAD}schedules:\n  flaky:\n    every: 50ms\n    hook: ./flaky.mjs#run\n    emit: all\n`, {
      'schema.sql': SCHEMA,
      'flaky.mjs': 'let n = 0;\nexport function run(ctx) { n++; if (n % 2) throw new Error("odd tick"); return { n, params: ctx.params, auth: ctx.auth }; }\n',
    });
    const client = await t.client();
    const seen = collect<Envelope>(client, 'flaky_data');
    await eventually(
      () => seen.length,
      (n) => n >= 2,
      'two good ticks',
    );
    expect(seen[0]!.res).toMatchObject({ n: expect.any(Number), params: { tick: expect.any(Number), now: expect.any(String) }, auth: null });
    const failures = t.logs.lines.filter((l) => l.msg === 'schedule failed');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures[0]).toMatchObject({ schedule: 'flaky', code: 'INTERNAL', err: 'odd tick' });
    // The playground's latest tick says how each one went.
    const outcomes = new Set<string>();
    await eventually(
      () => outcomes.add(t!.server.lastTick('flaky')?.outcome ?? 'none').size,
      () => outcomes.has('ok') && outcomes.has('failed'),
      'a latest tick that failed, and one that ran',
      5000,
      5,
    );
  });

  it('a reload adds, restarts and removes schedules; close stops them', async () => {
    const one = `${HEAD}schedules:\n  a:\n    every: 50ms\n    reply: { v: a1 }\n    emit: all\n  b:\n    every: 50ms\n    reply: { v: b1 }\n    emit: all\n`;
    t = await startServer(one, { 'schema.sql': SCHEMA });
    const reloader = new Reloader(t.server);
    const client = await t.client();
    const a = collect<Envelope>(client, 'a_data');
    const b = collect<Envelope>(client, 'b_data');
    const c = collect<Envelope>(client, 'c_data');
    await eventually(() => a.length && b.length, Boolean, 'a and b');
    t.write('sockey.yaml', `${HEAD}schedules:\n  a:\n    every: 50ms\n    reply: { v: a2 }\n    emit: all\n  c:\n    every: 50ms\n    reply: { v: c1 }\n    emit: all\n`);
    expect(await reloader.reload('test')).toMatchObject({ ok: true });
    expect(t.server.scheduler!.names().sort()).toEqual(['a', 'c']);
    expect(t.logs.lines.map((l) => l.msg).filter((m) => typeof m === 'string' && m.startsWith('schedules: '))).toEqual(['schedules: started a, b', 'schedules: started c; restarted a; stopped b']);
    // Whatever b sent before it stopped has arrived once an ack sent after it is back.
    await flush(client);
    const bAfterReload = b.length;
    await eventually(() => a.at(-1)?.res.v === 'a2' && c.length > 1, Boolean, 'a restarted and c started');
    await sleep(150);
    // b stopped with the reload.
    expect(b.length).toBe(bAfterReload);

    // An invalid edit changes nothing that runs.
    t.write('sockey.yaml', `${HEAD}schedules:\n  a:\n    every: soon\n    reply: { v: a3 }\n    emit: all\n`);
    expect(await reloader.reload('test')).toMatchObject({ ok: false });
    expect(t.server.scheduler!.names().sort()).toEqual(['a', 'c']);

    await flush(client);
    await t.server.close();
    const after = a.length + c.length;
    expect(t.server.scheduler!.names()).toEqual([]);
    await sleep(150);
    // At most the one tick of each that was on its way when it closed.
    expect(a.length + c.length).toBeLessThanOrEqual(after + 2);
  });
});

describe('schedules: hook modules on reload', () => {
  it('an unchanged hook schedule runs on through a reload; an edit to a module its hook imports restarts it with the new code', async () => {
    const text = `${HEAD}routes:\n  ping: { reply: pong }\nschedules:\n  h:\n    every: 50ms\n    hook: ./h.mjs#run\n    emit: all\n`;
    t = await startServer(text, { 'schema.sql': SCHEMA, 'h.mjs': 'import { v } from "./v.mjs";\nexport const run = () => v;\n', 'v.mjs': 'export const v = 1;\n' });
    const reloader = new Reloader(t.server);
    const client = await t.client();
    const seen = collect<Envelope>(client, 'h_data');
    const lines = () => t!.logs.lines.map((l) => l.msg).filter((m) => typeof m === 'string' && m.startsWith('schedules: '));
    await eventually(
      () => seen.length,
      (n) => n > 0,
      'a tick',
    );
    t.write('sockey.yaml', text.replace('reply: pong', 'reply: pong2'));
    expect(await reloader.reload('test')).toMatchObject({ ok: true });
    expect(lines()).toEqual(['schedules: started h']);
    // Taken over, its modules are still watched.
    expect(t.server.table.files.filter((f) => /[hv]\.mjs$/.test(f)).length).toBe(2);
    t.write('v.mjs', 'export const v = 2;\n');
    expect(await reloader.reload('test')).toMatchObject({ ok: true });
    expect(lines()).toEqual(['schedules: started h', 'schedules: restarted h']);
    await eventually(
      () => seen.at(-1)?.res,
      (v) => v === 2,
      'the new code',
    );
  });
});

describe('schedules: cluster with Redis down', () => {
  it('redisDown: local runs on this node, skip waits; one log line, no crash', async () => {
    const head = HEAD + 'cluster: { redis: "redis://127.0.0.1:9", prefix: sockey_test_down }\n';
    t = await startServer(
      `${head}schedules:\n  here:\n    every: 50ms\n    reply: { tick: "{{tick}}" }\n    emit: all\n  later:\n    every: 50ms\n    redisDown: skip\n    reply: 1\n    emit: all\n`,
      { 'schema.sql': SCHEMA },
    );
    const client = await t.client();
    const here = collect<Envelope>(client, 'here_data');
    const later = collect<Envelope>(client, 'later_data');
    await eventually(
      () => here.length,
      (n) => n >= 4,
      'four local ticks',
    );
    expect(later).toEqual([]);
    expect(t.logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('schedules: redis is unreachable'))).toHaveLength(1);
    // What the playground shows as the latest tick: run here; a skipped tick is none.
    expect(t.server.lastTick('here')).toEqual({ tick: expect.any(Number), outcome: 'ok' });
    expect(t.server.lastTick('later')).toBeUndefined();
  });
});

describe('schedules: validate', () => {
  const check = async (body: string, files: Record<string, string> = {}) => {
    const app = tempApp({ 'sockey.yaml': `version: 1\nauth: { enabled: false }\nschedules:\n${body}`, ...files });
    try {
      const r = await compileManifestFile('sockey.yaml', app.dir, { strictEnv: false });
      return r.diagnostics.map((d) => `${d.line}:${d.col} ${d.path.join('.')} ${d.code} ${d.message}`);
    } finally {
      app.cleanup();
    }
  };

  it('locates bad durations, cron patterns, time zones, emits and auth.* at file:line:col', async () => {
    const problems = await check(
      [
        '  a: { every: 1ms, reply: 1 }',
        '  b: { cron: "61 * * * *", reply: 1 }',
        '  c: { every: 1s, cron: "* * * * *", reply: 1 }',
        '  d: { cron: "* * * * *", timezone: Nope/Zone, reply: 1 }',
        '  e: { every: 1s, reply: { who: "{{auth.name}}" }, emit: all }',
        '  f: { every: 1s, sql: "SELECT :auth.id AS id" }',
        '  g: { every: 1s, reply: 1, emit: self }',
        '  h: { every: 1s, reply: 1, emit: { to: user } }',
        '  i: { every: 1s }',
        '  j: { every: 1s, reply: { t: "{{tick}}", p: "{{params.tick}}", x: "{{params.nope}}" } }',
        '',
      ].join('\n'),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^4:15 schedules\.a\.every DURATION every must be at least 10ms/),
      expect.stringMatching(/^5:14 schedules\.b\.cron SCHEDULE "61 \* \* \* \*" is not a cron pattern: .*minute/),
      expect.stringMatching(/^6:3 schedules\.c SCHEDULE a schedule needs exactly one of every or cron/),
      expect.stringMatching(/^7:37 schedules\.d\.timezone SCHEDULE "Nope\/Zone" is not a time zone/),
      expect.stringMatching(/^8:\d+ schedules\.e\.reply AUTH_REQUIRED "\{\{auth\.name\}\}": a schedule runs with no user/),
      expect.stringMatching(/^9:\d+ schedules\.f\.sql AUTH_REQUIRED :auth\.id cannot be bound: a schedule runs with no user/),
      expect.stringMatching(/^10:35 schedules\.g\.emit SCHEDULE a schedule has no caller/),
      expect.stringMatching(/^11:\d+ schedules\.h\.emit SCHEDULE emit to: user in a schedule needs user:/),
      expect.stringMatching(/^12:3 schedules\.i ACTION no action/),
      expect.stringMatching(/^13:\d+ schedules\.j\.reply SQL_PARAM "\{\{params\.nope\}\}"/),
    ]);
  });

  it('an unknown key or a value the schema refuses is a located SCHEMA problem; the other schedules are still checked', async () => {
    const problems = await check('  a: { every: 1s, reply: 1, evry: 2s }\n  b: { every: soon, reply: 1 }\n  c: { every: 1s, reply: "{{auth.id}}" }\n');
    expect(problems).toEqual([
      expect.stringMatching(/^4:\d+ schedules\.a(\.evry)? SCHEMA .*evry/),
      expect.stringMatching(/^5:15 schedules\.b\.every SCHEMA .*milliseconds/),
      expect.stringMatching(/^6:\d+ schedules\.c\.reply AUTH_REQUIRED/),
    ]);
  });

  it('sockey routes lists schedules after the routes; --schedules --json prints them', async () => {
    const app = tempApp({
      'sockey.yaml':
        'version: 1\nauth: { enabled: false }\nroutes:\n  ping: { reply: pong }\nschedules:\n  beat: { every: 5s, reply: 1, emit: all }\n  nightly: { cron: "0 3 * * *", timezone: Europe/Berlin, reply: 1 }\n',
    });
    try {
      const table = await runCli(['routes'], app.dir);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^ping\s+none\s+reply\s+self/m);
      expect(table.stdout).toMatch(/^SCHEDULE\s+WHEN\s+ACTION\s+EMIT$/m);
      expect(table.stdout).toMatch(/^beat\s+every 5000ms\s+reply\s+all$/m);
      expect(table.stdout).toMatch(/^nightly\s+cron 0 3 \* \* \* \(Europe\/Berlin\)\s+reply\s+none$/m);
      const routes = JSON.parse((await runCli(['routes', '--json'], app.dir)).stdout) as Array<{ event: string }>;
      expect(routes.map((r) => r.event)).toEqual(['ping']);
      const schedules = JSON.parse((await runCli(['routes', '--schedules', '--json'], app.dir)).stdout) as unknown[];
      expect(schedules).toEqual([
        { name: 'beat', when: 'every 5000ms', action: 'reply', emit: 'all' },
        { name: 'nightly', when: 'cron 0 3 * * * (Europe/Berlin)', action: 'reply', emit: 'none' },
      ]);
    } finally {
      app.cleanup();
    }
  });
});

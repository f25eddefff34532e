import { afterEach, describe, expect, it } from 'vitest';
import { eventually, flush, ok, record } from './support/flow.js';
import { runCli } from './support/child.js';
import { call, startServer, tempApp, type TestServer } from './support/util.js';
import { PRESENCE_ROUTES, register } from './support/presence.js';

/** SPEC §6 presence on one process (test/cluster-presence.test.ts runs it across three). */
let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const presenceEvents = (seen: Array<{ event: string; payload: unknown }>, room = 'board:1') =>
  seen
    .filter((e) => e.event.startsWith('presence.') && (e.payload as { res: { room: string } }).res.room === room)
    .map((e) => `${e.event} ${(e.payload as { res: { user: { name: string } } }).res.user.name}`);

describe('presence (one process)', () => {
  it('join/leave announce a user once, however many sockets; the joining socket hears its own join; who lists each user once; guests do not count', async () => {
    t = await startServer(`version: 1\ndatabase: { file: ./db.sqlite }\n${PRESENCE_ROUTES}`);
    const watcher = await t.client();
    const alice = await t.client();
    const bob = await t.client();
    const guest = await t.client();
    const { id: aliceId, token } = await register(alice, 'alice');
    const { id: bobId } = await register(bob, 'bob');
    const alice2 = await t.client({ auth: { name: 'alice', token } });
    // The watcher, a guest, is in the room: it hears presence but is not a member.
    expect(await call(watcher, 'boards.open', { board: 1 })).toEqual(ok({ opened: 1 }));
    const seen = record(watcher);
    const seenByAlice = record(alice);

    await call(alice, 'boards.open', { board: 1 });
    await call(alice2, 'boards.open', { board: 1 });
    await call(bob, 'boards.open', { board: 1 });
    await call(guest, 'boards.open', { board: 1 });
    await eventually(
      () => presenceEvents(seen),
      (e) => e.length >= 2,
      'two joins',
    );
    await flush(watcher, alice);
    expect(presenceEvents(seen)).toEqual(['presence.join alice', 'presence.join bob']);
    // Phoenix's way: the joining socket hears its own join too.
    expect(presenceEvents(seenByAlice)).toEqual(['presence.join alice', 'presence.join bob']);
    expect(seen.find((e) => e.event === 'presence.join')!.payload).toEqual(ok({ room: 'board:1', user: { id: aliceId, name: 'alice' } }));

    expect(await call(guest, 'boards.who', { board: 1 })).toEqual(
      ok([
        { id: aliceId, name: 'alice' },
        { id: bobId, name: 'bob' },
      ]),
    );
    expect(await call(guest, 'boards.count', { board: 1 })).toEqual(
      ok({
        members: [
          { id: aliceId, name: 'alice' },
          { id: bobId, name: 'bob' },
        ],
      }),
    );
    expect(await call(guest, 'boards.who', { board: 2 })).toEqual(ok([]));

    // Alice's first socket leaves: her second is still in, nothing is announced.
    seen.splice(0);
    await call(alice, 'boards.leave', { board: 1 });
    await call(guest, 'boards.leave', { board: 1 });
    await flush(watcher);
    expect(presenceEvents(seen)).toEqual([]);
    // Her last socket disconnects; Bob signs out (his rooms joined as him are left).
    alice2.disconnect();
    await call(bob, 'auth', { type: 'logout' });
    await eventually(
      () => presenceEvents(seen),
      (e) => e.length >= 2,
      'two leaves',
    );
    await flush(watcher);
    expect(presenceEvents(seen).sort()).toEqual(['presence.leave alice', 'presence.leave bob']);
    expect(await call(guest, 'boards.who', { board: 1 })).toEqual(ok([]));
  });

  it('a socket already in the room without presence becomes a member when it joins with presence; a plain join is not presence', async () => {
    t = await startServer(`version: 1\ndatabase: { file: ./db.sqlite }\n${PRESENCE_ROUTES}`);
    const watcher = await t.client();
    await call(watcher, 'boards.open', { board: 1 });
    const seen = record(watcher);
    const alice = await t.client();
    await register(alice, 'alice');
    await call(alice, 'boards.plain', { board: 1 });
    expect(await call(watcher, 'boards.who', { board: 1 })).toEqual(ok([]));
    await call(alice, 'boards.open', { board: 1 });
    await eventually(
      () => presenceEvents(seen),
      (e) => e.length >= 1,
      'a join',
    );
    expect((await call(watcher, 'boards.who', { board: 1 })).res).toHaveLength(1);
  });
});

describe('presence: validate', () => {
  it('refuses presence with sql or hook, bad join objects and reserved rooms, located; warns about presence on a route without auth', async () => {
    const app = tempApp({
      'sockey.yaml': `version: 1
database: { file: ./db.sqlite }
routes:
  a:
    presence: "board:{{params.board}}"
    sql: SELECT 1
  b:
    join: { room: "x", presense: true }
    reply: {}
  c:
    join: { presence: true }
    reply: {}
  d:
    presence: "sockey:user:1"
  e:
    auth: required
    join: [{ room: "sockey:x", presence: true }]
    reply: {}
  f:
    join: { room: "board:1", presence: true }
    reply: {}
`,
    });
    try {
      const r = await runCli(['validate', 'sockey.yaml'], app.dir);
      expect(r.code).toBe(1);
      const out = r.stderr + r.stdout;
      expect(out).toMatch(/sockey\.yaml:5:5 routes\.a\.presence: a route has one action: presence .* no sql/);
      expect(out).toMatch(/sockey\.yaml:8:\d+ routes\.b\.join\.presense: unknown property "presense" \(did you mean "presence"\?\)/);
      expect(out).toMatch(/sockey\.yaml:11:\d+ routes\.c\.join: missing required property "room"/);
      expect(out).toMatch(/sockey\.yaml:14:\d+ routes\.d\.presence: rooms starting with "sockey:"/);
      expect(out).toMatch(/sockey\.yaml:17:\d+ routes\.e\.join\.0\.room: rooms starting with "sockey:"/);
      expect(out).toMatch(/sockey\.yaml:20:\d+ routes\.f\.join\.presence: warning: presence counts signed-in sockets only/);
    } finally {
      app.cleanup();
    }
  });

  it('sockey routes shows the presence action and presence joins', async () => {
    const app = tempApp({ 'sockey.yaml': `version: 1\ndatabase: { file: ./db.sqlite }\n${PRESENCE_ROUTES}` });
    try {
      const r = await runCli(['routes', 'sockey.yaml'], app.dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/boards\.open .*presence join board:\{\{params\.board\}\}/);
      expect(r.stdout).toMatch(/boards\.who .*presence board:\{\{params\.board\}\}/);
    } finally {
      app.cleanup();
    }
  });
});

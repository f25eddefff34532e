import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../src/cli/index.js';
import { flush, ok, record } from './support/flow.js';
import { call, signedUp, startOn, tempApp, type TestServer } from './support/util.js';

/** SPEC §5: guards (named, inline SQL, hook) and expect. A board is a room its members may open. */
const SCHEMA = {
  sqlite: `CREATE TABLE IF NOT EXISTS members (board_id INTEGER NOT NULL, user_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY AUTOINCREMENT, board_id INTEGER NOT NULL, title TEXT NOT NULL, col TEXT NOT NULL DEFAULT 'todo');
`,
  mysql: `CREATE TABLE IF NOT EXISTS members (board_id INT NOT NULL, user_id INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS cards (id INT AUTO_INCREMENT PRIMARY KEY, board_id INT NOT NULL, title VARCHAR(100) NOT NULL, col VARCHAR(20) NOT NULL DEFAULT 'todo') ENGINE=InnoDB;
`,
};

const ROUTES = `
auth: { bcryptCost: 4 }
guards:
  boardMember: SELECT 1 FROM members WHERE board_id = :board AND user_id = :auth.id
  even: { hook: ./guards.mjs#even }
routes:
  member.add:
    auth: required
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    sql: INSERT INTO members (board_id, user_id) VALUES (:board, :auth.id)
  boards.open:
    auth: required
    guard: boardMember
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    sql: SELECT id, title FROM cards WHERE board_id = :board ORDER BY id
    join: "board:{{params.board}}"
  cards.add:
    auth: required
    guard: boardMember
    params: { type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }
    sql: INSERT INTO cards (board_id, title) VALUES (:board, :title)
    emit: { to: room, room: "board:{{params.board}}", event: card.added }
  cards.move:
    auth: required
    guard: SELECT 1 FROM members WHERE board_id = :board AND user_id = :auth.id
    params: { type: object, properties: { board: { type: integer }, card: { type: integer }, col: { type: string } }, required: [board, card, col] }
    sql:
      - UPDATE cards SET col = :col WHERE id = :card AND board_id = :board
    expect: changed
    emit: { to: room, room: "board:{{params.board}}", event: card.moved }
  cards.get:
    params: { type: object, properties: { card: { type: integer } }, required: [card] }
    sql: SELECT id, col FROM cards WHERE id = :card
    result: row
    expect: row
  cards.addThenMove:
    params: { type: object, properties: { board: { type: integer }, card: { type: integer } }, required: [board, card] }
    sql:
      - INSERT INTO cards (board_id, title) VALUES (:board, 'added first')
      - UPDATE cards SET col = 'done' WHERE id = :card
    expect: changed
  cards.count:
    sql: SELECT COUNT(*) AS n FROM cards
    result: value
  odd.only:
    guard: even
    params: { type: object, properties: { n: { type: integer } }, required: [n] }
    reply: { n: "{{params.n}}" }
`;

const GUARDS = 'export function even(ctx) { return ctx.params.n % 2 === 0; }\n';
const forbidden = { ok: false, err: 'Forbidden.', res: false, code: 'FORBIDDEN' };
const notFound = { ok: false, err: 'Not found.', res: false, code: 'NOT_FOUND' };

describe.each(['sqlite', 'mysql'] as const)('guards and expect on %s', (driver) => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function start() {
    return (t = await startOn(driver, ROUTES, { 'schema.sql': SCHEMA[driver], 'guards.mjs': GUARDS }));
  }

  it('a failing guard answers FORBIDDEN and nothing happens: no action, no join, no emit', async () => {
    const t = await start();
    const [owner, stranger] = [await signedUp(t, 'owner'), await signedUp(t, 'stranger')];
    expect((await call(owner, 'member.add', { board: 1 })).ok).toBe(true);
    expect(await call(owner, 'boards.open', { board: 1 })).toEqual(ok([]));
    const atOwner = record(owner);
    expect(await call(stranger, 'boards.open', { board: 1 })).toEqual(forbidden);
    expect(await call(stranger, 'cards.add', { board: 1, title: 'sneaky' })).toEqual(forbidden);
    expect(await call(stranger, 'cards.count')).toEqual(ok(0));
    // The stranger joined nothing: a card added by the owner does not reach them.
    const atStranger = record(stranger);
    expect((await call(owner, 'cards.add', { board: 1, title: 'real' })).ok).toBe(true);
    await flush(owner, stranger);
    expect(atStranger).toEqual([]);
    expect(atOwner.map((e) => e.event)).toEqual(['card.added']);
  });

  it('expect: changed answers NOT_FOUND and emits nothing when no row changed; expect: row when none is found', async () => {
    const t = await start();
    const owner = await signedUp(t, 'owner');
    await call(owner, 'member.add', { board: 1 });
    await call(owner, 'boards.open', { board: 1 });
    const added = await call(owner, 'cards.add', { board: 1, title: 'a card' });
    const id = (added.res as { insertId: number }).insertId;
    const seen = record(owner);
    expect(await call(owner, 'cards.move', { board: 1, card: id + 100, col: 'done' })).toEqual(notFound);
    await flush(owner);
    expect(seen).toEqual([]);
    expect(await call(owner, 'cards.move', { board: 1, card: id, col: 'done' })).toEqual(ok({ affectedRows: 1, insertId: null }));
    expect(await call(owner, 'cards.get', { card: id })).toEqual(ok({ id, col: 'done' }));
    expect(await call(owner, 'cards.get', { card: id + 100 })).toEqual(notFound);
  });

  it('an unmet expectation on a list of statements rolls back the earlier ones', async () => {
    const t = await start();
    const s = await t.client();
    expect(await call(s, 'cards.addThenMove', { board: 1, card: 999 })).toEqual(notFound);
    expect(await call(s, 'cards.count')).toEqual(ok(0));
  });

  it('a hook guard passes on true only', async () => {
    const t = await start();
    const s = await t.client();
    expect(await call(s, 'odd.only', { n: 2 })).toEqual(ok({ n: 2 }));
    expect(await call(s, 'odd.only', { n: 3 })).toEqual(forbidden);
  });

  it("a room joined through a guard is left when its user signs out or signs in as someone else, and kept on the same user's new login", async () => {
    const t = await start();
    const owner = await signedUp(t, 'owner');
    const member = await signedUp(t, 'member');
    await call(owner, 'member.add', { board: 1 });
    await call(owner, 'boards.open', { board: 1 });
    await call(member, 'member.add', { board: 1 });
    const atMember = record(member);
    const added = async (title: string) => {
      expect((await call(owner, 'cards.add', { board: 1, title })).ok).toBe(true);
      await flush(owner, member);
      return atMember.splice(0).map((e) => e.event);
    };

    // Joined as member; logging in again as member keeps the room.
    expect((await call(member, 'boards.open', { board: 1 })).ok).toBe(true);
    expect(await added('one')).toEqual(['card.added']);
    expect((await call(member, 'auth', { type: 'login', user: { name: 'member', password: 'pa55!word' } })).ok).toBe(true);
    atMember.splice(0);
    expect(await added('two')).toEqual(['card.added']);

    // Logging out leaves it: the board's events stop at the socket.
    expect((await call(member, 'auth', { type: 'logout' })).ok).toBe(true);
    atMember.splice(0);
    expect(await added('three')).toEqual([]);

    // Joined again, then signed in as a non-member on the same socket: left again.
    await signedInAs(member, 'member');
    expect((await call(member, 'boards.open', { board: 1 })).ok).toBe(true);
    expect(await added('four')).toEqual(['card.added']);
    await call(member, 'auth', { type: 'register', user: { name: 'stranger', email: 'stranger@example.com', password: 'pa55!word' } });
    atMember.splice(0);
    expect(await added('five')).toEqual([]);
    expect(await call(member, 'boards.open', { board: 1 })).toEqual(forbidden);
  });

  async function signedInAs(s: Awaited<ReturnType<TestServer['client']>>, name: string) {
    expect((await call(s, 'auth', { type: 'login', user: { name, password: 'pa55!word' } })).ok).toBe(true);
  }
});

describe('guards in validate', () => {
  it('an unknown guard name, an undeclared :name in a named guard and expect without sql are located problems', async () => {
    const app = tempApp({
      'sockey.yaml': `version: 1
guards:
  member: SELECT 1 FROM members WHERE board_id = :board
routes:
  a:
    guard: membr
    reply: 1
  b:
    params: { type: object, properties: { card: { type: integer } } }
    guard: member
    sql: SELECT 1
  c:
    reply: 1
    expect: row
`,
    });
    let stderr = '';
    const code = await cli(['validate'], { stdout: () => undefined, stderr: (s) => void (stderr += s), cwd: app.dir, env: process.env });
    app.cleanup();
    expect(code).toBe(1);
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines).toEqual([
      expect.stringMatching(/^sockey\.yaml:3:50 guards\.member: :board is not a declared param/),
      expect.stringMatching(/^sockey\.yaml:6:12 routes\.a\.guard: no guard named "membr" under guards: \(there are: member\)$/),
      expect.stringMatching(/^sockey\.yaml:14:5 routes\.c\.expect: expect checks what sql answers; this has no sql$/),
      'sockey.yaml: 3 problems',
    ]);
  });
});

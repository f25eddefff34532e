import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import type { Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, runCli } from './support/child.js';
import { flush, ok, record } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { call, next, startServer, type TestServer } from './support/util.js';

/**
 * examples/kanban as it is (SPEC §5 end to end): its real manifest and schema
 * file per driver, served from a temp folder, with signed-in users.
 */
const KANBAN = path.join(ROOT, 'examples', 'kanban');
const FILES = {
  sqlite: { manifest: 'sockey.yaml', schema: 'schema.sqlite.sql' },
  mysql: { manifest: 'sockey.mysql.yaml', schema: 'schema.mysql.sql' },
} as const;

const forbidden = { ok: false, err: 'Forbidden.', res: false, code: 'FORBIDDEN' };
const notFound = { ok: false, err: 'Not found.', res: false, code: 'NOT_FOUND' };

interface Card {
  id: number;
  board_id: number;
  title: string;
  col: string;
}

describe.each(['sqlite', 'mysql'] as const)('examples/kanban on %s', (driver) => {
  let t: TestServer | undefined;
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await db?.drop();
    db = undefined;
  });

  async function start(): Promise<TestServer> {
    const { manifest, schema } = FILES[driver];
    const env: NodeJS.ProcessEnv = {};
    if (driver === 'mysql') {
      db = await createTestDatabase();
      env.KANBAN_MYSQL_URL = db.url;
    }
    t = await startServer(readFileSync(path.join(KANBAN, manifest), 'utf8'), { [schema]: readFileSync(path.join(KANBAN, schema), 'utf8') }, env);
    return t;
  }

  /** A socket signed in as a new user (the built-in auth event). */
  async function user(t: TestServer, name: string): Promise<ClientSocket> {
    const s = await t.client();
    expect(await call(s, 'auth', { type: 'register', user: { name, password: 'pa55!word' } })).toEqual(ok({ name, token: expect.any(String) }));
    return s;
  }

  /** Runs statements on the example's database next to the server (to break it on purpose). */
  async function sql(t: TestServer, statement: string): Promise<void> {
    if (driver === 'sqlite') {
      const file = new Database(path.join(t.dir, 'data', 'kanban.db'));
      try {
        file.exec(statement);
      } finally {
        file.close();
      }
      return;
    }
    const conn = await mysql.createConnection(db!.url);
    try {
      await conn.query(statement);
    } finally {
      await conn.end();
    }
  }

  /** alice's board with bob as a second member; both are in its room. */
  async function team(t: TestServer) {
    const alice = await user(t, 'alice');
    const bob = await user(t, 'bob');
    const created = await call(alice, 'boards.create', { name: 'Launch' });
    expect(created).toEqual(ok({ id: expect.any(Number), name: 'Launch' }));
    const board = created.res.id as number;
    const invited = next(bob, 'board.invited');
    expect((await call(alice, 'boards.invite', { board, name: 'bob' })).ok).toBe(true);
    expect(await invited).toEqual(ok({ board: { id: board, name: 'Launch' }, user: { id: expect.any(Number), name: 'bob' }, by: 'alice' }));
    expect((await call(bob, 'boards.open', { board })).ok).toBe(true);
    return { alice, bob, board };
  }

  const add = async (s: ClientSocket, board: number, title: string): Promise<Card> => {
    const r = await call(s, 'cards.add', { board, title });
    expect(r.ok).toBe(true);
    return r.res as Card;
  };
  const cardsOf = async (s: ClientSocket, board: number): Promise<Card[]> => {
    const r = await call(s, 'boards.open', { board });
    expect(r.ok).toBe(true);
    return r.res.cards as Card[];
  };

  it('a non-member cannot read, join, write or receive anything of a board', async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    const card = await add(alice, board, 'Plan');
    const mallory = await user(t, 'mallory');
    const atMallory = record(mallory);

    // Read (and join: boards.open is the route that joins the room).
    expect(await call(mallory, 'boards.open', { board })).toEqual(forbidden);
    expect(await call(mallory, 'boards.activity', { board })).toEqual(forbidden);
    expect(await call(mallory, 'boards.list')).toEqual(ok([]));
    // Write.
    expect(await call(mallory, 'cards.add', { board, title: 'sneaky' })).toEqual(forbidden);
    expect(await call(mallory, 'cards.move', { board, card: card.id, col: 'done' })).toEqual(forbidden);
    expect(await call(mallory, 'cards.delete', { board, card: card.id })).toEqual(forbidden);
    expect(await call(mallory, 'boards.invite', { board, name: 'mallory' })).toEqual(forbidden);
    // Not a member: leaving is nothing to do.
    expect(await call(mallory, 'boards.leave', { board })).toEqual(notFound);

    // Nothing changed, as a member reads it.
    expect(await cardsOf(bob, board)).toEqual([card]);
    const opened = await call(bob, 'boards.open', { board });
    expect(opened.res.members.map((m: { name: string }) => m.name)).toEqual(['alice', 'bob']);
    const activity = await call(bob, 'boards.activity', { board });
    expect(activity).toEqual(ok([{ id: expect.any(Number), card_id: card.id, action: 'card.added', detail: 'Plan', user: 'alice', created_at: expect.any(Number) }]));

    // Receive: the room's next event reaches bob, and mallory got nothing, before it or with it.
    const atBob = next(bob, 'card.moved');
    expect((await call(alice, 'cards.move', { board, card: card.id, col: 'doing' })).ok).toBe(true);
    expect(await atBob).toEqual(ok({ ...card, col: 'doing' }));
    await flush(mallory);
    expect(atMallory).toEqual([]);
  });

  it("a member's cards.add replies the inserted row, and the same row reaches the other member in the room", async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    const atBob = next(bob, 'card.added');
    const atAlice = next(alice, 'card.added');
    const added = await call(alice, 'cards.add', { board, title: 'Write the README' });
    const row = { id: expect.any(Number), board_id: board, title: 'Write the README', col: 'todo' };
    expect(added).toEqual(ok(row));
    // to: room reaches every socket in it, the caller too.
    expect(await atBob).toEqual(added);
    expect(await atAlice).toEqual(added);
    expect(await cardsOf(bob, board)).toEqual([added.res]);
    // Its activity row, written in the same transaction, names the card and the user.
    const activity = await call(bob, 'boards.activity', { board });
    expect(activity.res).toEqual([expect.objectContaining({ card_id: added.res.id, action: 'card.added', detail: 'Write the README', user: 'alice' })]);
  });

  it('a move or delete that changes nothing (an unknown card, a card of another board) answers NOT_FOUND and broadcasts nothing', async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    const mine = await add(alice, board, 'On this board');
    const other = (await call(alice, 'boards.create', { name: 'Elsewhere' })).res.id as number;
    const theirs = await add(alice, other, 'On the other board');
    await flush(alice, bob);
    const atBob = record(bob);

    // alice is a member of both boards, so the guard passes: the UPDATE's WHERE is what refuses.
    expect(await call(alice, 'cards.move', { board, card: theirs.id, col: 'done' })).toEqual(notFound);
    expect(await call(alice, 'cards.move', { board, card: theirs.id + 1000, col: 'done' })).toEqual(notFound);
    expect(await call(alice, 'cards.delete', { board, card: theirs.id })).toEqual(notFound);
    expect(await call(alice, 'cards.delete', { board, card: theirs.id + 1000 })).toEqual(notFound);
    expect(await cardsOf(alice, other)).toEqual([theirs]);
    // Rolled back: no activity row for the refused moves.
    expect((await call(alice, 'boards.activity', { board })).res.map((a: { action: string }) => a.action)).toEqual(['card.added']);

    // The next real move is the first thing bob receives.
    const moved = await call(alice, 'cards.move', { board, card: mine.id, col: 'done' });
    expect(moved).toEqual(ok({ ...mine, col: 'done' }));
    const deleted = await call(alice, 'cards.delete', { board, card: mine.id });
    expect(deleted).toEqual(ok({ ...mine, col: 'done' }));
    await flush(bob);
    expect(atBob).toEqual([
      { event: 'card.moved', payload: moved },
      { event: 'card.deleted', payload: deleted },
    ]);
    expect(await cardsOf(bob, board)).toEqual([]);
    expect((await call(bob, 'boards.activity', { board })).res).toEqual([
      expect.objectContaining({ card_id: null, action: 'card.deleted', detail: 'On this board' }),
      expect.objectContaining({ card_id: null, action: 'card.moved', detail: 'done' }),
      expect.objectContaining({ card_id: null, action: 'card.added', detail: 'On this board' }),
    ]);
  });

  it('the card and its activity row are one transaction: when the activity insert fails, the card is not there', async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    const before = await add(alice, board, 'Before');
    await flush(alice, bob);
    await sql(
      t,
      driver === 'sqlite'
        ? "CREATE TRIGGER activity_refuses BEFORE INSERT ON activity BEGIN SELECT RAISE(ABORT, 'activity refused'); END"
        : "CREATE TRIGGER activity_refuses BEFORE INSERT ON activity FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'activity refused'",
    );
    const atBob = record(bob);
    expect(await call(alice, 'cards.add', { board, title: 'Lost' })).toMatchObject({ ok: false, res: false, code: 'DB_ERROR' });
    expect(await cardsOf(bob, board)).toEqual([before]);
    await flush(bob);
    expect(atBob).toEqual([]);

    await sql(t, 'DROP TRIGGER activity_refuses');
    const after = await add(alice, board, 'After');
    expect(await cardsOf(bob, board)).toEqual([before, after]);
  });

  it('boards.invite adds a user by name (NOT_FOUND for nobody); boards.leave ends membership and the room', async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    expect(await call(alice, 'boards.invite', { board, name: 'nobody' })).toEqual(notFound);
    // Inviting a member again changes nothing.
    expect((await call(alice, 'boards.invite', { board, name: 'BOB' })).ok).toBe(true);
    expect((await call(bob, 'boards.open', { board })).res.members).toEqual([expect.objectContaining({ name: 'alice' }), expect.objectContaining({ name: 'bob' })]);
    expect(await call(bob, 'boards.list')).toEqual(ok([{ id: board, name: 'Launch' }]));

    const left = next(alice, 'member.left');
    expect((await call(bob, 'boards.leave', { board })).ok).toBe(true);
    expect(await left).toEqual(ok({ board, user: { id: expect.any(Number), name: 'bob' } }));
    const atBob = record(bob);
    expect(await call(bob, 'boards.open', { board })).toEqual(forbidden);
    expect(await call(bob, 'cards.add', { board, title: 'after leaving' })).toEqual(forbidden);
    expect(await call(bob, 'boards.leave', { board })).toEqual(notFound);
    expect(await call(bob, 'boards.list')).toEqual(ok([]));
    // Out of the room: alice's next card reaches alice only.
    const atAlice = next(alice, 'card.added');
    await add(alice, board, 'Just me');
    await atAlice;
    await flush(bob);
    expect(atBob).toEqual([]);
  });

  it('boards.activity is live: a change by one member reaches the other; leaving the board ends it (LIVE_ENDED)', async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    expect((await call(bob, 'boards.activity', { board })).ok).toBe(true);
    const pushed = next(bob, 'boards.activity_data');
    await add(alice, board, 'Live card');
    expect((await pushed).res[0]).toMatchObject({ action: 'card.added', detail: 'Live card', user: 'alice' });
    const ended = next(bob, 'boards.activity_error');
    expect((await call(bob, 'boards.leave', { board })).ok).toBe(true);
    expect(await ended).toMatchObject({ code: 'LIVE_ENDED', details: { reason: 'forbidden', event: 'boards.activity', params: { board } } });
    const atBob = record(bob);
    const atAlice = next(alice, 'boards.activity_data');
    expect((await call(alice, 'boards.activity', { board })).ok).toBe(true);
    await add(alice, board, 'After bob left');
    await atAlice;
    await flush(bob);
    expect(atBob.filter((e) => e.event.startsWith('boards.activity'))).toEqual([]);
  });

  it('a socket whose member signs out, or signs in as a non-member, stops receiving the board', async () => {
    const t = await start();
    const { alice, bob, board } = await team(t);
    const mallory = await user(t, 'mallory');
    mallory.disconnect();
    expect(await call(bob, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    expect(await call(bob, 'auth', { type: 'login', user: { name: 'mallory', password: 'pa55!word' } })).toEqual(ok({ name: 'mallory', token: expect.any(String) }));
    const atBobsSocket = record(bob);
    expect(await call(bob, 'boards.open', { board })).toEqual(forbidden);
    const atAlice = next(alice, 'card.added');
    await add(alice, board, 'After the sign-out');
    await atAlice;
    await flush(bob);
    expect(atBobsSocket).toEqual([]);
  });

  it('sockey validate accepts the manifest, its SQL checked against the database', async () => {
    const { manifest } = FILES[driver];
    const env = { ...process.env };
    if (driver === 'mysql') {
      // MySQL cannot roll back DDL: validate --db needs the tables, which serving migrates.
      await start();
      env.KANBAN_MYSQL_URL = db!.url;
    }
    for (const argv of [
      ['validate', path.join('examples', 'kanban', manifest)],
      ['validate', '--db', path.join('examples', 'kanban', manifest)],
    ]) {
      const r = await runCli(argv, ROOT, env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^examples/kanban/${manifest.replaceAll('.', '\\.')}: ok \\(9 routes \\+ 2 built-in, ${driver}`));
    }
  });
});

/**
 * Why the example writes `INSERT ... RETURNING` (README, "Protecting data"):
 * an INSERT whose condition keeps it from inserting leaves the connection's
 * last insert id as it was, so a SELECT of last_insert_rowid() /
 * LAST_INSERT_ID() answers the last row anyone inserted there.
 */
const LEAK = {
  sqlite: {
    database: 'database: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }',
    schema:
      'CREATE TABLE IF NOT EXISTS members (board_id INTEGER NOT NULL, user_id INTEGER NOT NULL);\nCREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY AUTOINCREMENT, board_id INTEGER NOT NULL, title TEXT NOT NULL);\n',
    from: '',
    lastId: 'last_insert_rowid()',
  },
  mysql: {
    // One connection, so every statement runs where the last insert was.
    database: 'database: { driver: mysql, url: "{{env.LEAK_MYSQL_URL}}", pool: 1, schema: [./schema.sql], migrate: true }',
    schema:
      'CREATE TABLE IF NOT EXISTS members (board_id INT NOT NULL, user_id INT NOT NULL) ENGINE=InnoDB;\nCREATE TABLE IF NOT EXISTS cards (id INT AUTO_INCREMENT PRIMARY KEY, board_id INT NOT NULL, title VARCHAR(100) NOT NULL) ENGINE=InnoDB;\n',
    from: ' FROM DUAL',
    lastId: 'LAST_INSERT_ID()',
  },
} as const;

describe.each(['sqlite', 'mysql'] as const)('a conditional INSERT that inserts nothing, on %s', (driver) => {
  let t: TestServer | undefined;
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await db?.drop();
    db = undefined;
  });

  it('SELECT of the last insert id answers the last row anyone inserted; RETURNING and :steps.x.insertId answer nothing', async () => {
    const d = LEAK[driver];
    const env: NodeJS.ProcessEnv = {};
    if (driver === 'mysql') {
      db = await createTestDatabase();
      env.LEAK_MYSQL_URL = db.url;
    }
    const insert = `INSERT INTO cards (board_id, title) SELECT :board, :title${d.from} WHERE EXISTS (SELECT 1 FROM members WHERE board_id = :board AND user_id = :auth.id)`;
    const params = '{ type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }';
    t = await startServer(
      `version: 1
${d.database}
auth: { bcryptCost: 4 }
routes:
  members.join: { auth: required, params: { type: object, properties: { board: { type: integer } } }, sql: "INSERT INTO members (board_id, user_id) VALUES (:board, :auth.id)" }
  cards.leaky:
    auth: required
    params: ${params}
    sql:
      - ${insert}
      - SELECT id, board_id, title FROM cards WHERE id = ${d.lastId}
    result: row
  cards.returning:
    auth: required
    params: ${params}
    sql: ${insert} RETURNING id, board_id, title
    result: row
  cards.insertId:
    auth: required
    params: ${params}
    sql:
      - { as: card, sql: "${insert}" }
      - SELECT id, board_id, title FROM cards WHERE id = :steps.card.insertId
    result: row
`,
      { 'schema.sql': d.schema },
      env,
    );
    const signedIn = async (name: string) => {
      const s = await t!.client();
      expect((await call(s, 'auth', { type: 'register', user: { name, email: `${name}@example.com`, password: 'pa55!word' } })).ok).toBe(true);
      return s;
    };
    const alice = await signedIn('alice');
    const mallory = await signedIn('mallory');
    await call(alice, 'members.join', { board: 1 });
    const secret = await call(alice, 'cards.returning', { board: 1, title: 'secret plan' });
    expect(secret).toEqual(ok({ id: expect.any(Number), board_id: 1, title: 'secret plan' }));

    // mallory is not a member of board 1: the INSERT inserts nothing.
    expect(await call(mallory, 'cards.leaky', { board: 1, title: 'x' })).toEqual(secret);
    expect(await call(mallory, 'cards.returning', { board: 1, title: 'x' })).toEqual(ok(null));
    expect(await call(mallory, 'cards.insertId', { board: 1, title: 'x' })).toEqual(ok(null));
  });
});

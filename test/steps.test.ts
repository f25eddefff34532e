import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../src/cli/index.js';
import { flush, ok, record } from './support/flow.js';
import { call, signedUp, startOn, tempApp, type TestServer } from './support/util.js';

/** SPEC §5 write flows: named steps of a sql list, :steps.<name>.<col>, {{steps.<name>}}, RETURNING, json:. */
const SCHEMA = {
  sqlite: `CREATE TABLE IF NOT EXISTS members (board_id INTEGER NOT NULL, user_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY AUTOINCREMENT, board_id INTEGER NOT NULL, title TEXT NOT NULL, meta TEXT);
CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, card_id INTEGER NOT NULL REFERENCES cards(id), user_id INTEGER NOT NULL, note TEXT NOT NULL);
`,
  mysql: `CREATE TABLE IF NOT EXISTS members (board_id INT NOT NULL, user_id INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS cards (id INT AUTO_INCREMENT PRIMARY KEY, board_id INT NOT NULL, title VARCHAR(100) NOT NULL, meta TEXT) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS activity (id INT AUTO_INCREMENT PRIMARY KEY, card_id INT NOT NULL, user_id INT NOT NULL, note VARCHAR(100) NOT NULL, FOREIGN KEY (card_id) REFERENCES cards(id)) ENGINE=InnoDB;
`,
};

const ROUTES = `
auth: { bcryptCost: 4 }
routes:
  member.add:
    auth: required
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    sql: INSERT INTO members (board_id, user_id) VALUES (:board, :auth.id)
    join: "board:{{params.board}}"
  cards.add:
    auth: required
    params: { type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }
    sql:
      # Inserts only for a member: the guarded INSERT inserts nothing otherwise, and expect stops the list.
      - as: card
        sql: >-
          INSERT INTO cards (board_id, title)
          SELECT :board, :title FROM members WHERE board_id = :board AND user_id = :auth.id
          RETURNING id, board_id, title
        result: row
        expect: row
      - as: log
        sql: INSERT INTO activity (card_id, user_id, note) VALUES (:steps.card.id, :auth.id, 'added')
    reply: "{{steps.card}}"
    emit: { to: room, room: "board:{{steps.card.board_id}}", event: card.added }
  cards.addCounted:
    auth: required
    params: { type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }
    sql:
      - as: card
        sql: INSERT INTO cards (board_id, title) VALUES (:board, :title)
      - as: log
        sql: INSERT INTO activity (card_id, user_id, note) VALUES (:steps.card.insertId, :auth.id, 'counted')
    reply: { id: "{{steps.card.insertId}}", logged: "{{steps.log.affectedRows}}", title: "{{params.title}}" }
  cards.addLast:
    auth: required
    params: { type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }
    sql:
      - as: card
        sql: INSERT INTO cards (board_id, title) VALUES (:board, :title)
      - SELECT c.title, a.note FROM cards c JOIN activity a ON a.card_id = c.id WHERE c.id = :steps.card.insertId
      - INSERT INTO activity (card_id, user_id, note) VALUES (:steps.card.insertId, :auth.id, 'last')
      - SELECT id, title FROM cards WHERE id = :steps.card.insertId
    result: row
  cards.addBroken:
    auth: required
    params: { type: object, properties: { board: { type: integer }, title: { type: string } }, required: [board, title] }
    sql:
      - as: card
        sql: INSERT INTO cards (board_id, title) VALUES (:board, :title) RETURNING id
        result: row
      # NOT NULL note: the second step fails, so the card must not stay.
      - INSERT INTO activity (card_id, user_id, note) VALUES (:steps.card.id, :auth.id, NULL)
  cards.withMeta:
    params: { type: object, properties: { board: { type: integer }, meta: { type: object } }, required: [board, meta] }
    sql:
      - as: card
        sql: INSERT INTO cards (board_id, title, meta) VALUES (:board, 'meta', :meta) RETURNING id, meta
        result: row
    json: [meta]
    reply: { card: "{{steps.card}}", first: "{{steps.card.meta.tags.0}}" }
  cards.count:
    sql: SELECT (SELECT COUNT(*) FROM cards) AS cards, (SELECT COUNT(*) FROM activity) AS activity
    result: row
`;

describe.each(['sqlite', 'mysql'] as const)('named steps on %s', (driver) => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function start() {
    return (t = await startOn(driver, ROUTES, { 'schema.sql': SCHEMA[driver] }));
  }

  it('INSERT ... RETURNING as a named step: the reply and the room emit are the inserted row; a later step binds its id', async () => {
    const t = await start();
    const [owner, other] = [await signedUp(t, 'owner'), await signedUp(t, 'other')];
    await call(owner, 'member.add', { board: 7 });
    await call(other, 'member.add', { board: 7 });
    const atOther = record(other);
    const added = await call(owner, 'cards.add', { board: 7, title: 'first' });
    expect(added).toEqual(ok({ id: expect.any(Number), board_id: 7, title: 'first' }));
    await flush(other);
    expect(atOther).toEqual([{ event: 'card.added', payload: ok(added.res) }]);
    expect(await call(owner, 'cards.count')).toEqual(ok({ cards: 1, activity: 1 }));
  });

  it('a guarded INSERT that inserts nothing stops the list (NOT_FOUND): no later step runs, nothing is emitted, no earlier row leaks', async () => {
    const t = await start();
    const [owner, stranger] = [await signedUp(t, 'owner'), await signedUp(t, 'stranger')];
    await call(owner, 'member.add', { board: 7 });
    // The owner's row is the last one inserted on the connection: the old INSERT-then-SELECT pattern would answer it.
    expect((await call(owner, 'cards.add', { board: 7, title: 'secret' })).ok).toBe(true);
    const atOwner = record(owner);
    expect(await call(stranger, 'cards.add', { board: 7, title: 'sneaky' })).toEqual({ ok: false, err: 'Not found.', res: false, code: 'NOT_FOUND' });
    expect(await call(owner, 'cards.count')).toEqual(ok({ cards: 1, activity: 1 }));
    await flush(owner);
    expect(atOwner).toEqual([]);
  });

  it('a write step binds insertId and affectedRows; templates read them', async () => {
    const t = await start();
    const s = await signedUp(t, 'owner');
    const r = await call(s, 'cards.addCounted', { board: 1, title: 'counted' });
    expect(r).toEqual(ok({ id: expect.any(Number), logged: 1, title: 'counted' }));
    expect(await call(s, 'cards.count')).toEqual(ok({ cards: 1, activity: 1 }));
  });

  it('without reply the last step answers, shaped by the route result; an unnamed read step can sit in between', async () => {
    const t = await start();
    const s = await signedUp(t, 'owner');
    const r = await call(s, 'cards.addLast', { board: 1, title: 'last' });
    expect(r).toEqual(ok({ id: expect.any(Number), title: 'last' }));
    expect(await call(s, 'cards.count')).toEqual(ok({ cards: 1, activity: 1 }));
  });

  it('a failing later step rolls back the earlier ones', async () => {
    const t = await start();
    const s = await signedUp(t, 'owner');
    const r = await call(s, 'cards.addBroken', { board: 1, title: 'broken' });
    expect(r).toMatchObject({ ok: false, code: 'DB_ERROR' });
    expect(await call(s, 'cards.count')).toEqual(ok({ cards: 0, activity: 0 }));
  });

  it('json: columns are parsed in step results, so templates can read inside them', async () => {
    const t = await start();
    const s = await t.client();
    const r = await call(s, 'cards.withMeta', { board: 1, meta: { tags: ['red', 'blue'] } });
    expect(r).toEqual(ok({ card: { id: expect.any(Number), meta: { tags: ['red', 'blue'] } }, first: 'red' }));
  });
});

describe('named steps in validate', () => {
  it('a step read before it is defined, an unknown step in a template, a duplicate name and :steps outside a list are located problems', async () => {
    const app = tempApp({
      'sockey.yaml': `version: 1
routes:
  a:
    sql:
      - INSERT INTO log (card) VALUES (:steps.card.id)
      - as: card
        sql: SELECT 1 AS id
      - as: card
        sql: SELECT 2 AS id
    reply: "{{steps.crd}}"
  b:
    sql: SELECT :steps.x.id
  c:
    reply: { x: "{{steps.x}}" }
  d:
    sql:
      - as: one
        sql: SELECT 1 AS id
      - SELECT :steps.one
`,
    });
    let stderr = '';
    const code = await cli(['validate'], { stdout: () => undefined, stderr: (s) => void (stderr += s), cwd: app.dir, env: process.env });
    app.cleanup();
    expect(code).toBe(1);
    expect(stderr.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^sockey\.yaml:5:40 routes\.a\.sql\.0: :steps\.card\.id: no earlier step is named "card"; a step of a sql list is named with as: and can be read by the steps after it$/),
      expect.stringMatching(/^sockey\.yaml:8:13 routes\.a\.sql\.2\.as: two steps are named "card"$/),
      expect.stringMatching(/^sockey\.yaml:10:15 routes\.a\.reply: "\{\{steps\.crd\}\}": no step is named "crd" \(named: card, card\)$/),
      expect.stringMatching(/^sockey\.yaml:12:17 routes\.b\.sql: :steps\.x\.id: no earlier step is named "x"/),
      expect.stringMatching(/^sockey\.yaml:14:20 routes\.c\.reply: "\{\{steps\.x\}\}": no step is named "x"; name a step of a sql list with as:$/),
      expect.stringMatching(/^sockey\.yaml:19:16 routes\.d\.sql\.1: :steps\.one: use :steps\.<name>\.<column>$/),
      'sockey.yaml: 6 problems',
    ]);
  });
});

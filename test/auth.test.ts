import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, type ManualClock } from './support/clock.js';
import { flush, ok, record } from './support/flow.js';
import { createTestDatabase } from './support/mysql.js';
import { call, next, startServer, type TestServer } from './support/util.js';

/**
 * The built-in auth over real sockets, on SQLite and on the real MariaDB:
 * register, login, logout, check, the three ways a route learns its user,
 * token timeout and renewal, login rate limiting, the per-user room, and what
 * the database and the logs may (never) hold.
 */

const DRIVERS = ['sqlite', 'mysql'] as const;
type DriverName = (typeof DRIVERS)[number];

const NOTES_SCHEMA: Record<DriverName, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, body TEXT NOT NULL);`,
  mysql: `CREATE TABLE IF NOT EXISTS notes (id INT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT UNSIGNED NOT NULL, body TEXT NOT NULL) ENGINE=InnoDB;`,
};

/** The routes every auth server of this file declares. */
const ROUTES = `
routes:
  keytest:
    auth: required
    reply: { name: "{{auth.name}}", id: "{{auth.id}}" }
  maybe:
    auth: optional
    params: { type: object, properties: { x: { type: integer } }, additionalProperties: false }
    reply: { name: "{{auth.name}}", id: "{{auth.id}}", x: "{{params.x}}" }
  notes.add:
    auth: required
    params:
      type: object
      properties: { body: { type: string } }
      required: [body]
      additionalProperties: false
    sql: INSERT INTO notes (user_id, body) VALUES (:auth.id, :body)
  notes.mine:
    auth: required
    sql: SELECT body FROM notes WHERE user_id = :auth.id ORDER BY id
  ping.user:
    auth: required
    params: { type: object, properties: { n: { type: integer } }, required: [n] }
    emit: { to: user, event: user.ping }
    reply: { from: "{{auth.name}}", n: "{{params.n}}" }
`;

const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const TOKEN = /^[A-Za-z0-9_-]{43}$/; // 32 bytes, base64url, no padding

const unauthorized = (err: unknown = expect.any(String)) => ({ ok: false, err, res: false, code: 'UNAUTHORIZED' });

describe.each(DRIVERS)('built-in auth on %s', (driver) => {
  const servers: TestServer[] = [];
  const drops: Array<() => Promise<void>> = [];
  let seq = 0;
  /** A fresh user name (the servers are shared by the tests of a block). */
  const uname = (base: string) => `${base}${++seq}${driver === 'mysql' ? 'm' : 's'}`;
  /** A fresh password that meets the default policy. */
  const pw = () => `pw-${randomBytes(6).toString('hex')}!7`;

  /** A server for `auth` settings (YAML flow mapping body) on this driver, with the notes table; `clock` times tokens and login throttling. */
  async function serve(auth: string, clock?: ManualClock): Promise<TestServer> {
    let database = `database: { driver: sqlite, file: ./data/app.db, schema: [./schema.sql], migrate: true }`;
    if (driver === 'mysql') {
      const db = await createTestDatabase();
      drops.push(db.drop);
      database = `database: { driver: mysql, url: "${db.url}", pool: 4, schema: [./schema.sql], migrate: true }`;
    }
    const t = await startServer(`version: 1\n${database}\nauth: { ${auth} }\n${ROUTES}`, { 'schema.sql': NOTES_SCHEMA[driver] }, {}, { clock });
    servers.push(t);
    return t;
  }

  async function rows(t: TestServer, sql: string, values: Array<string | number> = []): Promise<Record<string, unknown>[]> {
    return (await t.server.db.run(sql, values)).rows ?? [];
  }

  async function userId(t: TestServer, name: string): Promise<number> {
    const r = await rows(t, 'SELECT id FROM users WHERE name = ?', [name]);
    expect(r).toHaveLength(1);
    return Number(r[0]!.id);
  }

  async function keyRow(t: TestServer, token: string) {
    return (await rows(t, 'SELECT * FROM user_keys WHERE token_hash = ?', [sha256(token)]))[0];
  }

  const emailOf = (name: string) => `${name.replace(/[^A-Za-z0-9]/g, '_')}@example.com`;

  /** Registers through `socket` and returns the token; the socket is then signed in. */
  async function register(t: TestServer, socket: ClientSocket, name: string, password = pw(), extra: Record<string, unknown> = {}): Promise<string> {
    const r = await call(socket, 'auth', { type: 'register', user: { name, email: emailOf(name), password, ...extra } });
    expect(r).toEqual(ok({ name, token: expect.stringMatching(TOKEN) }));
    return r.res.token as string;
  }

  async function login(t: TestServer, socket: ClientSocket, name: string, password: string, persistent?: boolean): Promise<string> {
    const r = await call(socket, 'auth', { type: 'login', user: { name, password, ...(persistent === undefined ? {} : { persistent }) } });
    expect(r).toMatchObject(ok({ token: expect.stringMatching(TOKEN) }));
    return r.res.token as string;
  }

  /** A password of letters only (the default policy refuses it: no digit, no special character). */
  const lettersOnly = () => `pw${[...randomBytes(8)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`;

  /**
   * Goes through every auth path that handles a password or a token, on `t`,
   * and returns each password and token it used or was given (failed
   * attempts included): for the tests that look for them in the database and
   * the logs. With `clock` (the server's), tokens also time out: an expired
   * one is logged out and a persistent one renewed.
   */
  async function authTraffic(t: TestServer, clock?: ManualClock): Promise<Set<string>> {
    const secrets = new Set<string>();
    const keep = <T extends string>(v: T): T => (secrets.add(v), v);
    const name = uname('Sec');
    const password = keep(pw());
    const a = await t.client();
    const registered = keep(await register(t, a, name, password));
    const remembered = keep(await register(t, await t.client(), uname('Sec'), keep(pw()), { persistent: true }));
    expect(remembered).not.toBe(registered);
    // Refused registrations: a taken name, a password the policy refuses, one too long for bcrypt.
    expect(await call(await t.client(), 'auth', { type: 'register', user: { name, email: emailOf(name), password: keep(pw()) } })).toMatchObject({ code: 'CONFLICT' });
    const refused = { name: uname('Sec'), email: 'x@example.com' };
    expect(await call(await t.client(), 'auth', { type: 'register', user: { ...refused, password: keep(lettersOnly()) } })).toMatchObject({ code: 'VALIDATION' });
    expect(await call(await t.client(), 'auth', { type: 'register', user: { ...refused, password: keep(`${'é'.repeat(36)}1!${randomBytes(4).toString('hex')}`) } })).toMatchObject({
      code: 'VALIDATION',
    });
    // Logins: a wrong password, then right ones.
    const b = await t.client();
    expect(await call(b, 'auth', { type: 'login', user: { name, password: keep(pw()) } })).toEqual(unauthorized('Wrong name or password.'));
    const session = keep(await login(t, b, name, password, false));
    const persistent = keep(await login(t, await t.client(), name, password, true));
    // A token in the handshake, good and bad; a key per message, good and bad; check.
    const h = await t.client({ auth: { name, token: persistent } });
    expect(await call(h, 'keytest', {})).toMatchObject(ok({ name }));
    const forged = keep(`${persistent.slice(0, -4)}${randomBytes(3).toString('base64url')}`);
    const bad = io(t.url, { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false, auth: { name, token: forged } });
    try {
      const refusedHandshake = next(bad, 'auth_error');
      bad.connect();
      expect(await refusedHandshake).toEqual(unauthorized('Invalid name or token.'));
    } finally {
      bad.disconnect();
    }
    const m = await t.client();
    expect(await call(m, 'keytest', { user: { name, key: session } })).toMatchObject(ok({ name }));
    expect(await call(m, 'keytest', { user: { name, key: keep(`${session}x`) } })).toEqual(unauthorized());
    expect(await call(m, 'auth', { type: 'check', user: { name, key: persistent } })).toEqual(ok({ valid: true, name }));
    expect(await call(m, 'auth', { type: 'check', user: { name, key: keep(pw()) } })).toEqual(ok({ valid: false, name: null }));
    if (clock) {
      clock.advance(24 * 3_600_000);
      // Expired: the plain session is logged out, the persistent one gets a new token.
      expect(await call(b, 'keytest', {})).toEqual(unauthorized('Logged out.'));
      const pushed = next(h, 'auth_data');
      expect(await call(h, 'keytest', {})).toMatchObject(ok({ name }));
      const renewed = await pushed;
      expect(renewed).toEqual(ok({ name, token: expect.stringMatching(TOKEN), renewed: true }));
      keep(renewed.res.token);
    }
    expect(await call(a, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    expect(secrets.size).toBeGreaterThan(10);
    return secrets;
  }

  /** Which of `secrets` occur in the server's log lines (JSON, through the server's own logger). */
  const inLogs = (t: TestServer, secrets: Set<string>) => {
    const text = t.logs.text();
    return [...secrets].filter((secret) => text.includes(secret));
  };

  afterAll(async () => {
    for (const t of servers) await t.close();
    for (const drop of drops) await drop();
  });

  describe('with the default settings', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await serve('bcryptCost: 4, loginRateLimit: { count: 1000, per: 1m }');
    });

    it('register answers { name, token } and signs the socket in', async () => {
      const a = await t.client();
      const name = uname('Ada');
      const password = pw();
      const token = await register(t, a, name, password);
      const id = await userId(t, name);
      expect(await call(a, 'keytest', {})).toEqual(ok({ name, id }));
      const [user] = await rows(t, 'SELECT * FROM users WHERE id = ?', [id]);
      expect(user).toMatchObject({ name, email: emailOf(name) });
      expect(String(user!.password)).toMatch(/^\$2[ab]\$04\$/);
      expect(bcrypt.compareSync(password, String(user!.password))).toBe(true);
      const key = await keyRow(t, token);
      expect(key).toMatchObject({ user_id: id, token_hash: sha256(token) });
      expect(Number(key!.persistent)).toBe(0);
      // register may ask to be remembered too.
      const kept = await register(t, await t.client(), uname('Ada'), pw(), { persistent: true });
      expect(Number((await keyRow(t, kept))!.persistent)).toBe(1);
    });

    it('without an ack the answer arrives on auth_data, a failure on auth_error', async () => {
      const a = await t.client();
      const name = uname('noack');
      const password = pw();
      const data = next(a, 'auth_data');
      a.emit('auth', { type: 'register', user: { name, email: `${name}@example.com`, password } });
      const r = await data;
      expect(r).toEqual(ok({ name, token: expect.stringMatching(TOKEN) }));
      const error = next(a, 'auth_error');
      a.emit('auth', { type: 'login', user: { name, password: 'wrong-1!' } });
      expect(await error).toEqual(unauthorized('Wrong name or password.'));
    });

    it('a taken name gives CONFLICT, whatever its case; concurrent registrations of one name make one user', async () => {
      const a = await t.client();
      const name = uname('bob');
      await register(t, a, name);
      for (const taken of [name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1)]) {
        const password = pw();
        expect(await call(a, 'auth', { type: 'register', user: { name: taken, email: 'x@example.com', password } })).toMatchObject({ ok: false, res: false, code: 'CONFLICT' });
      }
      expect(await rows(t, 'SELECT id FROM users WHERE name_lower = ?', [name.toLowerCase()])).toHaveLength(1);

      const race = uname('race');
      const sockets = await Promise.all([t.client(), t.client(), t.client()]);
      const answers = await Promise.all(
        sockets.map((s) => {
          const password = pw();
          return call(s, 'auth', { type: 'register', user: { name: race, email: 'r@example.com', password } });
        }),
      );
      expect(answers.filter((r) => r.ok)).toHaveLength(1);
      expect(answers.filter((r) => !r.ok).map((r) => r.code)).toEqual(['CONFLICT', 'CONFLICT']);
    });

    it('names differing only in accents are different users on every driver', async () => {
      // Only case is folded (toLowerCase); a database collation must not fold more.
      const base = uname('zo');
      const accented = `${base}ë`;
      const plain = `${base}e`;
      const pa = pw();
      const pb = pw();
      await register(t, await t.client(), accented, pa);
      // Logging in as the plain name must not find the accented user.
      const c = await t.client();
      const wrongUser = await call(c, 'auth', { type: 'login', user: { name: plain, password: pa } });
      expect.soft(wrongUser).toEqual(unauthorized('Wrong name or password.'));
      const b = await t.client();
      const second = await call(b, 'auth', { type: 'register', user: { name: plain, email: emailOf(plain), password: pb } });
      expect(second).toEqual(ok({ name: plain, token: expect.stringMatching(TOKEN) }));
      expect((await call(c, 'auth', { type: 'login', user: { name: plain, password: pb } })).res).toMatchObject({ name: plain });
    });

    describe('register validation', () => {
      const problems = (r: { details?: unknown }) => (r.details as Array<{ path: string; message: string; keyword?: string }>).map((d) => ({ path: d.path, keyword: d.keyword, message: d.message }));

      async function rejected(user: Record<string, unknown>) {
        const a = await t.client();
        const r = await call(a, 'auth', { type: 'register', user });
        expect(r).toMatchObject({ ok: false, res: false, code: 'VALIDATION' });
        expect(typeof r.err).toBe('string');
        // Nothing was stored.
        if (typeof user.name === 'string') expect(await rows(t, 'SELECT id FROM users WHERE name = ?', [user.name])).toEqual([]);
        return r;
      }

      it('name: 3 to 32 characters', async () => {
        const good = { email: 'n@example.com', password: pw() };
        expect(problems(await rejected({ ...good, name: 'ab' }))).toContainEqual(expect.objectContaining({ path: '/user/name', keyword: 'minLength' }));
        expect(problems(await rejected({ ...good, name: 'a'.repeat(33) }))).toContainEqual(expect.objectContaining({ path: '/user/name', keyword: 'maxLength' }));
        expect(problems(await rejected({ ...good, name: '' }))).toContainEqual(expect.objectContaining({ path: '/user/name' }));
        // The bounds themselves are fine.
        await register(t, await t.client(), `k${(++seq).toString(36).padStart(2, '0')}`);
        await register(t, await t.client(), uname('L').padEnd(32, 'a'));
      });

      it('name: letters, digits, _ . - only', async () => {
        const good = { email: 'n@example.com', password: pw() };
        for (const name of ['bad name', 'bad!', 'semi;colon', "o'hara", 'a<b>', 'at@sign', 'slash/x', 'tab\tx']) {
          expect(problems(await rejected({ ...good, name }))).toContainEqual(expect.objectContaining({ path: '/user/name', keyword: 'pattern' }));
        }
        await register(t, await t.client(), `${uname('ok_')}.x-y`);
        expect(problems(await rejected({ ...good, name: 42 }))).toContainEqual(expect.objectContaining({ path: '/user/name', keyword: 'type' }));
      });

      it('email: required and must be an e-mail address', async () => {
        const name = uname('mail');
        expect(problems(await rejected({ name, password: pw() }))).toContainEqual(expect.objectContaining({ path: '/user', keyword: 'required', message: expect.stringContaining('email') }));
        for (const email of ['not-an-email', 'a@', '@b.c', 'a b@c.d', '']) {
          expect(problems(await rejected({ name, email, password: pw() }))).toContainEqual(expect.objectContaining({ path: '/user/email' }));
        }
      });

      it('password: 5 to 60 characters, with a digit and a special character', async () => {
        const name = uname('pass');
        const email = 'p@example.com';
        expect(problems(await rejected({ name, email, password: 'a1!b' }))).toContainEqual(expect.objectContaining({ path: '/user/password', keyword: 'minLength' }));
        expect(problems(await rejected({ name, email, password: `1!${'a'.repeat(59)}` }))).toContainEqual(expect.objectContaining({ path: '/user/password', keyword: 'maxLength' }));
        expect(problems(await rejected({ name, email }))).toContainEqual(expect.objectContaining({ path: '/user', keyword: 'required' }));

        const noDigit = await rejected({ name, email, password: 'abc-def!' });
        expect(noDigit.details).toEqual([{ path: '/user/password', message: 'must contain a digit' }]);
        const noSpecial = await rejected({ name, email, password: 'abcdef12' });
        expect(noSpecial.details).toEqual([{ path: '/user/password', message: 'must contain a special character' }]);
        const neither = await rejected({ name, email, password: 'abcdefgh' });
        expect(neither.details).toEqual([
          { path: '/user/password', message: 'must contain a digit' },
          { path: '/user/password', message: 'must contain a special character' },
        ]);
        // The error text says which rule failed, never the password.
        expect(neither.err).toMatch(/digit/);
        expect(neither.err).not.toContain('abcdefgh');

        // bcrypt reads 72 bytes: a longer password (in bytes) is refused, not cut.
        const wide = await rejected({ name, email, password: `${'é'.repeat(36)}1!` });
        expect(wide.details).toEqual([{ path: '/user/password', message: 'must be at most 72 bytes' }]);
        // Exactly 5 and 60 characters are fine.
        await register(t, await t.client(), uname('p5a'), 'ab1!c');
        await register(t, await t.client(), uname('p60a'), `1!${'z'.repeat(58)}`);
      });

      it('an unknown type or a payload without user is VALIDATION', async () => {
        const a = await t.client();
        expect(await call(a, 'auth', { type: 'steal' })).toMatchObject({ ok: false, code: 'VALIDATION' });
        expect(await call(a, 'auth', {})).toMatchObject({ ok: false, code: 'VALIDATION' });
        expect(await call(a, 'auth', { type: 'register' })).toMatchObject({ ok: false, code: 'VALIDATION' });
        expect(await call(a, 'auth', { type: 'login', user: { name: 'x' } })).toMatchObject({ ok: false, code: 'VALIDATION' });
        expect(await call(a, 'auth', { type: 'check', user: { name: 'x' } })).toMatchObject({ ok: false, code: 'VALIDATION' });
      });
    });

    it('login answers { name, token } with the name as registered; each login is a new token', async () => {
      const a = await t.client();
      const name = uname('Carol');
      const password = pw();
      const first = await register(t, a, name, password);
      const b = await t.client();
      const r = await call(b, 'auth', { type: 'login', user: { name: name.toLowerCase(), password } });
      expect(r).toEqual(ok({ name, token: expect.stringMatching(TOKEN) }));
      expect(r.res.token).not.toBe(first);
      expect(await call(b, 'keytest', {})).toEqual(ok({ name, id: await userId(t, name) }));
    });

    it('a wrong password and an unknown name fail with the same words', async () => {
      const a = await t.client();
      const name = uname('dave');
      const password = pw();
      await register(t, a, name, password);
      const b = await t.client();
      const wrong = await call(b, 'auth', { type: 'login', user: { name, password: `${password}x` } });
      const unknown = await call(b, 'auth', { type: 'login', user: { name: uname('nobody'), password } });
      const emptyish = await call(b, 'auth', { type: 'login', user: { name, password: 'x' } });
      expect(wrong).toEqual(unauthorized());
      expect(typeof wrong.err).toBe('string');
      expect(unknown).toEqual(wrong);
      expect(emptyish).toEqual(wrong);
      // A failed login leaves the socket signed out.
      expect(await call(b, 'keytest', {})).toEqual(unauthorized());
    });

    it('a login password longer than bcrypt reads (72 bytes) does not match a 72-byte password', async () => {
      const a = await t.client();
      const name = uname('wide');
      const password = `${'é'.repeat(35)}1!`; // 37 characters, 72 bytes: accepted
      expect(Buffer.byteLength(password)).toBe(72);
      await register(t, a, name, password);
      await login(t, await t.client(), name, password);
      const b = await t.client();
      const longer = `${password}anything`;
      expect(await call(b, 'auth', { type: 'login', user: { name, password: longer } })).toEqual(unauthorized('Wrong name or password.'));
      expect(await call(b, 'keytest', {})).toEqual(unauthorized());
    });

    it('routes need a user: required fails UNAUTHORIZED without one, optional runs with auth null', async () => {
      const a = await t.client();
      expect(await call(a, 'keytest', {})).toEqual(unauthorized());
      expect(await call(a, 'notes.add', { body: 'anon' })).toEqual(unauthorized());
      expect(await call(a, 'maybe', { x: 1 })).toEqual(ok({ name: null, id: null, x: 1 }));
      expect(await call(a, 'maybe', { x: 2, user: { name: 'ghost', key: 'not-a-key' } })).toEqual(ok({ name: null, id: null, x: 2 }));
      expect(await call(a, 'keytest', { user: { name: 'ghost', key: 'not-a-key' } })).toEqual(unauthorized());
      expect(await rows(t, 'SELECT * FROM notes WHERE body = ?', ['anon'])).toEqual([]);
      // Without an ack the failure arrives on <event>_error.
      const error = next(a, 'keytest_error');
      a.emit('keytest', {});
      expect(await error).toEqual(unauthorized());
    });

    it('the socket’s own login: :auth.id in SQL is the user’s id', async () => {
      const a = await t.client();
      const name = uname('erin');
      await register(t, a, name);
      const id = await userId(t, name);
      expect(await call(a, 'notes.add', { body: `own ${name}` })).toMatchObject(ok({ affectedRows: 1 }));
      expect(await call(a, 'notes.mine', {})).toEqual(ok([{ body: `own ${name}` }]));
      expect(await call(a, 'maybe', { x: 3 })).toEqual(ok({ name, id, x: 3 }));
      const stored = await rows(t, 'SELECT user_id, body FROM notes WHERE body = ?', [`own ${name}`]);
      expect(stored.map((r) => ({ user_id: Number(r.user_id), body: r.body }))).toEqual([{ user_id: id, body: `own ${name}` }]);
    });

    it('the handshake auth: { name, token }', async () => {
      const a = await t.client();
      const name = uname('Frank');
      const token = await register(t, a, name);
      const id = await userId(t, name);
      const h = await t.client({ auth: { name, token } });
      expect(await call(h, 'keytest', {})).toEqual(ok({ name, id }));
      expect(await call(h, 'notes.add', { body: `hs ${name}` })).toMatchObject(ok({ affectedRows: 1 }));
      const stored = await rows(t, 'SELECT user_id FROM notes WHERE body = ?', [`hs ${name}`]);
      expect(stored.map((r) => Number(r.user_id))).toEqual([id]);
      // The name is compared without case.
      const h2 = await t.client({ auth: { name: name.toUpperCase(), token } });
      expect(await call(h2, 'keytest', {})).toEqual(ok({ name, id }));

      // A bad token (or a good token under another name) is refused on auth_error, and the socket stays anonymous.
      for (const creds of [
        { name, token: `${token.slice(0, -2)}xx` },
        { name: uname('other'), token },
        { name, token: '' },
      ]) {
        // Listening before the connection exists, so the refusal cannot be missed.
        const s = io(t.url, { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false, auth: creds });
        try {
          const error = next(s, 'auth_error');
          s.connect();
          expect(await error).toEqual(unauthorized('Invalid name or token.'));
          expect(await call(s, 'keytest', {})).toEqual(unauthorized());
          expect(await call(s, 'maybe', {})).toEqual(ok({ name: null, id: null, x: null }));
        } finally {
          s.disconnect();
        }
      }
    });

    it('the per-message user: { name, key }, stripped before params are validated', async () => {
      const a = await t.client();
      const name = uname('gina');
      const token = await register(t, a, name);
      const id = await userId(t, name);
      const m = await t.client();
      const user = { name, key: token };
      // notes.add has additionalProperties: false, so `user` must be gone before validation.
      expect(await call(m, 'notes.add', { body: `msg ${name}`, user })).toMatchObject(ok({ affectedRows: 1 }));
      expect(await call(m, 'notes.mine', { user })).toEqual(ok([{ body: `msg ${name}` }]));
      expect(await call(m, 'keytest', { user })).toEqual(ok({ name, id }));
      expect(await call(m, 'maybe', { x: 4, user })).toEqual(ok({ name, id, x: 4 }));
      const stored = await rows(t, 'SELECT user_id FROM notes WHERE body = ?', [`msg ${name}`]);
      expect(stored.map((r) => Number(r.user_id))).toEqual([id]);
      // It authenticates that message only: the socket is not signed in.
      expect(await call(m, 'keytest', {})).toEqual(unauthorized());
      // A wrong key, a key under another name, a missing name: UNAUTHORIZED, and nothing is written.
      for (const bad of [{ name, key: `${token}x` }, { name: uname('other'), key: token }, { key: token }, { name, key: '' }]) {
        expect(await call(m, 'notes.add', { body: `bad ${name}`, user: bad })).toEqual(unauthorized());
      }
      expect(await rows(t, 'SELECT * FROM notes WHERE body = ?', [`bad ${name}`])).toEqual([]);
      // Still validated after stripping.
      expect(await call(m, 'notes.add', { user, body: 5 })).toMatchObject({ ok: false, code: 'VALIDATION' });
      expect(await call(m, 'notes.add', { user, body: 'x', extra: 1 })).toMatchObject({ ok: false, code: 'VALIDATION' });
    });

    it('the order: own login, then the handshake, then the per-message user', async () => {
      const names = [uname('own'), uname('hand'), uname('msg')];
      const [own, hand, msg] = names as [string, string, string];
      const pwOwn = pw();
      await register(t, await t.client(), own, pwOwn);
      const handToken = await register(t, await t.client(), hand);
      const msgToken = await register(t, await t.client(), msg);
      const msgUser = { name: msg, key: msgToken };

      const h = await t.client({ auth: { name: hand, token: handToken } });
      expect((await call(h, 'keytest', { user: msgUser })).res.name).toBe(hand);
      await login(t, h, own, pwOwn);
      expect((await call(h, 'keytest', { user: msgUser })).res.name).toBe(own);
      expect((await call(h, 'keytest', {})).res.name).toBe(own);
    });

    it('check tells whether a name and key are valid', async () => {
      const a = await t.client();
      const name = uname('Hank');
      const token = await register(t, a, name);
      const c = await t.client();
      expect(await call(c, 'auth', { type: 'check', user: { name, key: token } })).toEqual(ok({ valid: true, name }));
      expect(await call(c, 'auth', { type: 'check', user: { name: name.toLowerCase(), key: token } })).toEqual(ok({ valid: true, name }));
      expect(await call(c, 'auth', { type: 'check', user: { name, key: `${token}x` } })).toEqual(ok({ valid: false, name: null }));
      expect(await call(c, 'auth', { type: 'check', user: { name: uname('else'), key: token } })).toEqual(ok({ valid: false, name: null }));
      expect(await call(c, 'auth', { type: 'check', user: { name, key: '' } })).toEqual(ok({ valid: false, name: null }));
      // Checking does not sign the socket in.
      expect(await call(c, 'keytest', {})).toEqual(unauthorized());
    });

    it('logout deletes the key row and signs out every socket using that token', async () => {
      const l = await t.client();
      const name = uname('ivy');
      const token = await register(t, l, name);
      const h = await t.client({ auth: { name, token } });
      expect(await call(h, 'keytest', {})).toMatchObject({ ok: true });
      expect(await keyRow(t, token)).toBeDefined();

      expect(await call(l, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
      expect(await keyRow(t, token)).toBeUndefined();
      expect(await call(l, 'keytest', {})).toEqual(unauthorized());
      expect(await call(h, 'keytest', {})).toEqual(unauthorized());
      const m = await t.client();
      expect(await call(m, 'keytest', { user: { name, key: token } })).toEqual(unauthorized());
      expect(await call(m, 'auth', { type: 'check', user: { name, key: token } })).toEqual(ok({ valid: false, name: null }));
      // A second logout, or one on an anonymous socket, is harmless.
      expect(await call(l, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
      expect(await call(m, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
    });

    it('logout on the handshake socket signs out the socket that logged in too', async () => {
      const l = await t.client();
      const name = uname('jack');
      const password = pw();
      await register(t, await t.client(), name, password);
      const token = await login(t, l, name, password);
      const h = await t.client({ auth: { name, token } });
      expect(await call(h, 'keytest', {})).toMatchObject({ ok: true });
      const noAck = next(h, 'auth_data');
      h.emit('auth', { type: 'logout' });
      expect(await noAck).toEqual(ok({ loggedOut: true }));
      expect(await keyRow(t, token)).toBeUndefined();
      expect(await call(h, 'keytest', {})).toEqual(unauthorized());
      expect(await call(l, 'keytest', {})).toEqual(unauthorized());
    });

    it('two sessions of one user are two key rows; logging out one leaves the other', async () => {
      const name = uname('kim');
      const password = pw();
      await register(t, await t.client(), name, password);
      const id = await userId(t, name);
      await call(await t.client(), 'auth', { type: 'logout' });
      const before = (await rows(t, 'SELECT id FROM user_keys WHERE user_id = ?', [id])).length;
      const a = await t.client();
      const b = await t.client();
      const ta = await login(t, a, name, password);
      const tb = await login(t, b, name, password, true);
      expect(ta).not.toBe(tb);
      expect(await rows(t, 'SELECT id FROM user_keys WHERE user_id = ?', [id])).toHaveLength(before + 2);
      expect(Number((await keyRow(t, tb))!.persistent)).toBe(1);

      expect(await call(a, 'auth', { type: 'logout' })).toEqual(ok({ loggedOut: true }));
      expect(await call(a, 'keytest', {})).toEqual(unauthorized());
      expect(await call(b, 'keytest', {})).toEqual(ok({ name, id }));
      expect(await keyRow(t, ta)).toBeUndefined();
      expect(await keyRow(t, tb)).toBeDefined();
      expect(await rows(t, 'SELECT id FROM user_keys WHERE user_id = ?', [id])).toHaveLength(before + 1);
      const c = await t.client();
      expect(await call(c, 'auth', { type: 'check', user: { name, key: tb } })).toEqual(ok({ valid: true, name }));
      expect(await call(c, 'auth', { type: 'check', user: { name, key: ta } })).toEqual(ok({ valid: false, name: null }));
    });

    it('emit { to: user } reaches every socket of that user and no one else', async () => {
      const name = uname('Lena');
      const other = uname('Milo');
      const password = pw();
      const a1 = await t.client();
      const token = await register(t, a1, name, password);
      const a2 = await t.client();
      await login(t, a2, name, password);
      const a3 = await t.client({ auth: { name, token } });
      const b = await t.client();
      await register(t, b, other);
      const anon = await t.client();
      const viaKey = await t.client();
      // Authenticating one message with a key does not put the socket in the user's room.
      expect(await call(viaKey, 'keytest', { user: { name, key: token } })).toMatchObject(ok({ name }));

      const seen = [a1, a2, a3, b, anon, viaKey].map(record);
      const [s1, s2, s3, sb, sAnon, sKey] = seen as [
        ReturnType<typeof record>,
        ReturnType<typeof record>,
        ReturnType<typeof record>,
        ReturnType<typeof record>,
        ReturnType<typeof record>,
        ReturnType<typeof record>,
      ];
      // a3 authenticated in the handshake: let that finish before it must be in the room.
      expect(await call(a3, 'keytest', {})).toMatchObject({ ok: true });

      const envelope = ok({ from: name, n: 1 });
      expect(await call(a1, 'ping.user', { n: 1 })).toEqual(envelope);
      await flush(a1, a2, a3, b, anon, viaKey);
      for (const s of [s1, s2, s3]) expect(s.filter((e) => e.event === 'user.ping')).toEqual([{ event: 'user.ping', payload: envelope }]);
      for (const s of [sb, sAnon, sKey]) expect(s.filter((e) => e.event === 'user.ping')).toEqual([]);

      // A signed-out socket leaves the room; the other user's pings stay with the other user.
      await call(a2, 'auth', { type: 'logout' });
      expect(await call(b, 'ping.user', { n: 2 })).toEqual(ok({ from: other, n: 2 }));
      expect(await call(a3, 'ping.user', { n: 3 })).toEqual(ok({ from: name, n: 3 }));
      await flush(a1, a2, a3, b, anon, viaKey);
      const pings = (s: ReturnType<typeof record>) => s.filter((e) => e.event === 'user.ping').map((e) => (e.payload as { res: { n: number } }).res.n);
      expect(pings(s1)).toEqual([1, 3]);
      expect(pings(s2)).toEqual([1]);
      expect(pings(s3)).toEqual([1, 3]);
      expect(pings(sb)).toEqual([2]);
      expect(pings(sAnon)).toEqual([]);
      expect(pings(sKey)).toEqual([]);
      // Without a signed-in user there is nobody to send to.
      expect(await call(anon, 'ping.user', { n: 4 })).toEqual(unauthorized());
    });

    it('the database holds only hashes: no column of users or user_keys contains a token or a password', async () => {
      const secrets = await authTraffic(t);
      const a = await t.client();
      const name = uname('Nora');
      const password = pw();
      const t1 = await register(t, a, name, password);
      const t2 = await login(t, await t.client(), name, password, true);
      const t3 = await login(t, await t.client(), name, password, false);
      for (const secret of [password, t1, t2, t3]) secrets.add(secret);
      const id = await userId(t, name);
      const keys = await rows(t, 'SELECT * FROM user_keys WHERE user_id = ?', [id]);
      expect(keys.map((k) => k.token_hash).sort()).toEqual([t1, t2, t3].map(sha256).sort());
      for (const k of keys) expect(String(k.token_hash)).toMatch(/^[0-9a-f]{64}$/);
      const [user] = await rows(t, 'SELECT password FROM users WHERE id = ?', [id]);
      expect(String(user!.password)).toMatch(/^\$2[ab]\$04\$.{53}$/);

      for (const table of ['users', 'user_keys']) {
        const all = await rows(t, `SELECT * FROM ${table}`);
        expect(all.length).toBeGreaterThan(0);
        const values = all.flatMap((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))));
        const leaked = [...secrets].filter((secret) => values.some((v) => v === secret || v.includes(secret)));
        expect(leaked, `${table} holds a token or a password`).toEqual([]);
      }
    });

    it('the logs never contain a token or a password', async () => {
      const secrets = await authTraffic(t);
      expect(t.logs.lines.length).toBeGreaterThan(0);
      expect(secrets.size).toBeGreaterThan(10);
      expect(inLogs(t, secrets), 'a token or a password was logged').toEqual([]);
    });
  });

  describe('registerEmail: false and a relaxed password policy', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await serve('bcryptCost: 4, registerEmail: false, passwordPolicy: { digit: false, special: false }, lengths: { username: { min: 2, max: 6 }, password: { min: 8, max: 12 } }');
    });

    it('email is optional, the policy is off and the lengths are the manifest’s', async () => {
      const a = await t.client();
      const name = 'Ann';
      const r = await call(a, 'auth', { type: 'register', user: { name, password: 'abcdefgh' } });
      expect(r).toEqual(ok({ name, token: expect.stringMatching(TOKEN) }));
      expect((await rows(t, 'SELECT email FROM users WHERE name = ?', [name]))[0]).toEqual({ email: null });
      expect(await call(a, 'keytest', {})).toMatchObject(ok({ name }));
      // With an e-mail it is stored.
      const b = await t.client();
      const r2 = await call(b, 'auth', { type: 'register', user: { name: `${name}b`, email: 'b@example.com', password: 'ABCDEFGHIJ' } });
      expect(r2).toMatchObject({ ok: true });
      expect((await rows(t, 'SELECT email FROM users WHERE name = ?', [`${name}b`]))[0]).toEqual({ email: 'b@example.com' });

      const bad = async (user: Record<string, unknown>, path: string, keyword: string) => {
        const res = await call(await t.client(), 'auth', { type: 'register', user });
        expect(res).toMatchObject({ ok: false, code: 'VALIDATION' });
        expect(res.details).toContainEqual(expect.objectContaining({ path, keyword }));
      };
      await bad({ name: 'x', password: 'abcdefgh' }, '/user/name', 'minLength');
      await bad({ name: 'abcdefg', password: 'abcdefgh' }, '/user/name', 'maxLength');
      await bad({ name: 'zz', password: 'abcdefg' }, '/user/password', 'minLength');
      await bad({ name: 'zz', password: 'abcdefghijklm' }, '/user/password', 'maxLength');
    });
  });

  describe('tokenTimeout: 1 (seconds)', () => {
    let t: TestServer;
    // Tokens time out when a test moves this clock past tokenTimeout.
    const clock = manualClock();
    beforeAll(async () => {
      t = await serve('bcryptCost: 4, tokenTimeout: 1, loginRateLimit: { count: 1000, per: 1m }', clock);
    });

    it('an expired session is logged out; a persistent one is renewed and the new token pushed', async () => {
      const name = uname('Olga');
      const password = pw();
      await register(t, await t.client(), name, password);
      const id = await userId(t, name);

      const plain = await t.client();
      const plainToken = await login(t, plain, name, password);
      const keeper = await t.client();
      const oldToken = await login(t, keeper, name, password, true);
      const expiredKey = await login(t, await t.client(), name, password, false);
      const laterToken = await login(t, await t.client(), name, password, true);
      // Fresh tokens work.
      expect(await call(plain, 'keytest', {})).toEqual(ok({ name, id }));
      expect(await call(keeper, 'keytest', {})).toEqual(ok({ name, id }));

      // Still fresh at exactly tokenTimeout; expired 1 ms later.
      clock.advance(1000);
      expect(await call(plain, 'keytest', {})).toEqual(ok({ name, id }));
      clock.advance(1);

      // Not persistent: UNAUTHORIZED "Logged out.", and the key row is gone.
      expect(await call(plain, 'keytest', {})).toEqual(unauthorized('Logged out.'));
      expect(await keyRow(t, plainToken)).toBeUndefined();
      expect(await call(plain, 'keytest', {})).toEqual(unauthorized());
      // The same for an expired per-message key.
      const m = await t.client();
      expect(await call(m, 'auth', { type: 'check', user: { name, key: expiredKey } })).toEqual(ok({ valid: false, name: null }));
      expect(await call(m, 'keytest', { user: { name, key: expiredKey } })).toEqual(unauthorized('Logged out.'));
      expect(await keyRow(t, expiredKey)).toBeUndefined();

      // Persistent: the call succeeds and the new token arrives on auth_data first.
      const pushed = next(keeper, 'auth_data');
      expect(await call(keeper, 'keytest', {})).toEqual(ok({ name, id }));
      const renewal = await pushed;
      expect(renewal).toEqual(ok({ name, token: expect.stringMatching(TOKEN), renewed: true }));
      const newToken = renewal.res.token as string;
      // The renewed session is fresh again: no second push.
      const after = record(keeper);
      expect(await call(keeper, 'keytest', {})).toEqual(ok({ name, id }));
      await flush(keeper);
      expect(after.filter((e) => e.event === 'auth_data')).toEqual([]);
      expect(newToken).not.toBe(oldToken);
      expect(await keyRow(t, oldToken)).toBeUndefined();
      expect(await keyRow(t, newToken)).toMatchObject({ user_id: id, token_hash: sha256(newToken) });

      const c = await t.client();
      expect(await call(c, 'auth', { type: 'check', user: { name, key: oldToken } })).toEqual(ok({ valid: false, name: null }));
      expect(await call(c, 'auth', { type: 'check', user: { name, key: newToken } })).toEqual(ok({ valid: true, name }));
      expect(await call(c, 'keytest', { user: { name, key: oldToken } })).toEqual(unauthorized());
      expect(await call(c, 'keytest', { user: { name, key: newToken } })).toEqual(ok({ name, id }));
      const h = await t.client({ auth: { name, token: newToken } });
      expect(await call(h, 'keytest', {})).toEqual(ok({ name, id }));

      // An expired persistent token in the handshake is renewed at once, and pushed to that socket.
      const s = io(t.url, { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false, auth: { name, token: laterToken } });
      try {
        const atConnect = next(s, 'auth_data');
        s.connect();
        const fresh = await atConnect;
        expect(fresh).toEqual(ok({ name, token: expect.stringMatching(TOKEN), renewed: true }));
        expect(await call(s, 'keytest', {})).toEqual(ok({ name, id }));
        expect(await call(c, 'auth', { type: 'check', user: { name, key: laterToken } })).toEqual(ok({ valid: false, name: null }));
        expect(await call(c, 'auth', { type: 'check', user: { name, key: fresh.res.token } })).toEqual(ok({ valid: true, name }));
      } finally {
        s.disconnect();
      }
    });

    it('a persistent session shared by two sockets is renewed once: every token pushed keeps working', async () => {
      const name = uname('Pat');
      const password = pw();
      await register(t, await t.client(), name, password);
      const l = await t.client();
      const token = await login(t, l, name, password, true);
      const h = await t.client({ auth: { name, token } });
      expect(await call(h, 'keytest', {})).toMatchObject({ ok: true });
      const seenL = record(l);
      const seenH = record(h);

      clock.advance(1200);
      expect(await call(l, 'keytest', {})).toMatchObject({ ok: true });
      expect(await call(h, 'keytest', {})).toMatchObject({ ok: true });
      await flush(l, h);
      const tokens = [...seenL, ...seenH].filter((e) => e.event === 'auth_data').map((e) => (e.payload as { res: { token: string } }).res.token);
      expect(tokens.length).toBeGreaterThan(0);
      const c = await t.client();
      // Whatever the sockets were told is their token must be valid: one key row, one current token.
      for (const tk of tokens) expect(await call(c, 'auth', { type: 'check', user: { name, key: tk } })).toEqual(ok({ valid: true, name }));
      expect(await call(c, 'auth', { type: 'check', user: { name, key: token } })).toEqual(ok({ valid: false, name: null }));
    });

    it('no token or password reaches the logs, renewals and expiries included', async () => {
      const secrets = await authTraffic(t, clock);
      expect(inLogs(t, secrets), 'a token or a password was logged').toEqual([]);
    });
  });

  describe('loginRateLimit: { count: 3, per: 2s }', () => {
    let t: TestServer;
    // The windows pass when the test moves this clock; the name-wide delay is recorded, not waited.
    const clock = manualClock();
    beforeAll(async () => {
      t = await serve('bcryptCost: 4, loginRateLimit: { count: 3, per: 2s }', clock);
    });

    it('after 3 failures, logins for that name and from that address are RATE_LIMITED until the window passes', async () => {
      const alice = uname('Pia');
      const bob = uname('Quinn');
      const pa = pw();
      const pb = pw();
      const secrets = new Set([pa, pb]);
      secrets.add(await register(t, await t.client(), alice, pa));
      secrets.add(await register(t, await t.client(), bob, pb));
      const a = await t.client();
      for (let i = 0; i < 3; i++) {
        secrets.add(`nope-${i}!`);
        expect(await call(a, 'auth', { type: 'login', user: { name: alice, password: `nope-${i}!` } })).toEqual(unauthorized('Wrong name or password.'));
      }
      // Even the right password is refused now.
      clock.advance(500);
      const limited = await call(a, 'auth', { type: 'login', user: { name: alice, password: pa } });
      expect(limited).toMatchObject({ ok: false, res: false, code: 'RATE_LIMITED' });
      expect(typeof limited.err).toBe('string');
      const wait = limited.details.retryAfterMs as number;
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(2000);
      // The window started with the first failure, 500 ms ago.
      expect(wait).toBe(1500);
      expect(await call(a, 'keytest', {})).toEqual(unauthorized());
      // Another name from the same address still logs in: an address (maybe a NAT) gets 4x the name's limit.
      const b = await t.client();
      const first = await call(b, 'auth', { type: 'login', user: { name: bob, password: pb } });
      expect(first.res).toMatchObject({ name: bob });
      secrets.add(first.res.token);
      // ...until the address itself has failed 4 x 3 = 12 times (3 so far, for alice).
      for (let i = 0; i < 9; i++) {
        expect((await call(b, 'auth', { type: 'login', user: { name: uname('Ghost'), password: `nope-${i}!` } })).code).toBe('UNAUTHORIZED');
      }
      expect(await call(b, 'auth', { type: 'login', user: { name: bob, password: pb } })).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: wait } });
      // Registering is not a login.
      const rory = pw();
      secrets.add(rory);
      secrets.add(await register(t, await t.client(), uname('Rory'), rory));

      // 1 ms before the window ends, still refused; then both log in again.
      clock.advance(wait - 1);
      expect(await call(a, 'auth', { type: 'login', user: { name: alice, password: pa } })).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: 1 } });
      clock.advance(1);
      const again = [await call(a, 'auth', { type: 'login', user: { name: alice, password: pa } }), await call(b, 'auth', { type: 'login', user: { name: bob, password: pb } })];
      expect(again[0].res).toMatchObject({ name: alice });
      expect(again[1].res).toMatchObject({ name: bob });
      for (const r of again) secrets.add(r.res.token);
      expect(await call(a, 'keytest', {})).toMatchObject(ok({ name: alice }));
      expect(inLogs(t, secrets), 'a token or a password was logged').toEqual([]);
    });
  });

  describe('auth settings that change the protocol', () => {
    it('auth: { event: login } renames the event and its _data / _error replies', async () => {
      const t = await serve('bcryptCost: 4, event: login');
      const a = await t.client();
      expect(await call(a, 'auth', { type: 'register', user: { name: 'renamed', email: 'r@example.com', password: 'pass-1!' } })).toMatchObject({ ok: false, code: 'UNKNOWN_EVENT' });
      const name = uname('Sam');
      const password = pw();
      const r = await call(a, 'login', { type: 'register', user: { name, email: 's@example.com', password } });
      expect(r).toEqual(ok({ name, token: expect.stringMatching(TOKEN) }));
      expect(await call(a, 'keytest', {})).toMatchObject(ok({ name }));
      const b = await t.client();
      const data = next(b, 'login_data');
      b.emit('login', { type: 'login', user: { name, password } });
      const d = await data;
      expect(d).toEqual(ok({ name, token: expect.stringMatching(TOKEN) }));
      const error = next(b, 'login_error');
      b.emit('login', { type: 'login', user: { name, password: 'bad-1!' } });
      expect(await error).toEqual(unauthorized('Wrong name or password.'));
      const seen = record(b);
      b.emit('auth', { type: 'login', user: { name, password } });
      await flush(b);
      expect(seen.filter((e) => e.event.startsWith('auth'))).toEqual([]);
    });

    it('auth: { enabled: false } removes the auth event', async () => {
      const t = await serve('enabled: false');
      const a = await t.client();
      expect(await call(a, 'auth', { type: 'register', user: { name: 'nobody', email: 'n@example.com', password: 'pass-1!' } })).toMatchObject({ ok: false, res: false, code: 'UNKNOWN_EVENT' });
      expect(await call(a, 'auth', { type: 'login', user: { name: 'nobody', password: 'pass-1!' } })).toMatchObject({ code: 'UNKNOWN_EVENT' });
      // Nobody can sign in, so required routes refuse and optional ones run anonymously.
      expect(await call(a, 'keytest', {})).toEqual(unauthorized());
      expect(await call(a, 'maybe', { x: 1 })).toEqual(ok({ name: null, id: null, x: 1 }));
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { LoginLimiter, MAX_WINDOWS } from '../src/auth/login-limiter.js';
import { manualClock } from './support/clock.js';
import { call, startServer, type TestServer } from './support/util.js';

/**
 * Login throttling (OWASP's authentication cheat sheet) and the client
 * address behind a proxy (server.trustProxy), over real sockets. Each
 * client is a socket whose handshake carries an X-Forwarded-For header, as
 * nginx would send it; the sockets all come from 127.0.0.1 themselves.
 *
 * Time is a manualClock (support/clock.ts) given to the auth plugin: `now` for
 * the windows, `wait` for the name-wide delay (it records the delay and
 * returns at once).
 */

const servers: TestServer[] = [];
afterEach(async () => {
  for (const t of servers.splice(0)) await t.close();
});

const OWNER_PASSWORD = 'owner-pa55!';

/** A server with a `whoami` hook (replies ctx.address) and `server`/`auth` settings as YAML flow bodies. */
async function serve(server: string, auth = 'loginRateLimit: { count: 3, per: 1m }', clock = manualClock()): Promise<TestServer> {
  const manifest = `version: 1
server: { ${server} }
database: { file: ./db.sqlite }
auth: { bcryptCost: 4, registerEmail: false, ${auth} }
routes:
  whoami:
    hook: ./who.ts#who
`;
  const t = await startServer(manifest, { 'who.ts': 'export const who = (ctx) => ctx.address;\n' }, {}, { clock });
  servers.push(t);
  return t;
}

/** A socket whose handshake says it was forwarded for `xff` (nothing = no header). */
function from(t: TestServer, xff?: string) {
  return t.client(xff === undefined ? {} : { extraHeaders: { 'x-forwarded-for': xff } });
}

const login = async (t: TestServer, xff: string | undefined, name: string, password: string) => call(await from(t, xff), 'auth', { type: 'login', user: { name, password } });

async function registerOwner(t: TestServer, name = 'owner'): Promise<string> {
  const r = await call(await t.client(), 'auth', { type: 'register', user: { name, password: OWNER_PASSWORD } });
  expect(r).toMatchObject({ ok: true });
  return name;
}

const wrong = { ok: false, res: false, code: 'UNAUTHORIZED', err: 'Wrong name or password.' };
const limited = (retryAfterMs: unknown = expect.any(Number)) => ({ ok: false, res: false, code: 'RATE_LIMITED', err: 'Too many failed logins, try again later.', details: { retryAfterMs } });
const signedIn = (name: string) => ({ ok: true, err: false, res: { name, token: expect.any(String) } });

describe('login throttling', () => {
  it('(a) wrong passwords for a name from one address do not stop its owner from another', async () => {
    const clock = manualClock();
    const t = await serve('trustProxy: 1', undefined, clock);
    const owner = await registerOwner(t);
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await login(t, '203.0.113.7', owner, `guess-${i}!`));
    // (name, address) allows 3 failures a minute; the rest are refused without a password check.
    expect(answers.slice(0, 3)).toEqual([wrong, wrong, wrong]);
    for (const a of answers.slice(3)) expect(a).toMatchObject(limited());
    expect(await login(t, '198.51.100.20', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
    // The owner waited at most the name's delay, never a lockout.
    expect(Math.max(0, ...clock.waits)).toBeLessThanOrEqual(2000);
  });

  it('(b) an address that fails too often, across names, is RATE_LIMITED with retryAfterMs', async () => {
    const clock = manualClock();
    const t = await serve('trustProxy: 1', undefined, clock);
    const owner = await registerOwner(t);
    // 4 x count = 12 failures from one address, each for a different name.
    for (let i = 0; i < 12; i++) {
      expect(await login(t, '203.0.113.8', `ghost${i}`, 'nope-1!')).toEqual(wrong);
      clock.advance(1000);
    }
    // Even a right password from that address waits out the window (which started 12 s ago).
    expect(await login(t, '203.0.113.8', owner, OWNER_PASSWORD)).toEqual(limited(60_000 - 12_000));
    expect(await login(t, '203.0.113.8', 'ghost99', 'nope-1!')).toEqual(limited(48_000));
    // Other addresses are not affected.
    expect(await login(t, '203.0.113.9', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
    clock.advance(48_000);
    expect(await login(t, '203.0.113.8', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
  });

  it('(c) per (name, address): count failures a window; a success starts the count again', async () => {
    const clock = manualClock();
    const t = await serve('trustProxy: 1', undefined, clock);
    const owner = await registerOwner(t);
    const other = await registerOwner(t, 'other');
    const A = '192.0.2.10';
    expect(await login(t, A, owner, 'typo-1!')).toEqual(wrong);
    expect(await login(t, A, owner, 'typo-2!')).toEqual(wrong);
    expect(await login(t, A, owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
    for (let i = 0; i < 3; i++) expect(await login(t, A, owner, `typo-${i}!`)).toEqual(wrong);
    clock.advance(15_000);
    expect(await login(t, A, owner, OWNER_PASSWORD)).toEqual(limited(45_000));
    // Another name from the same address, and the same name from another address, still sign in.
    expect(await login(t, A, other, OWNER_PASSWORD)).toEqual(signedIn(other));
    expect(await login(t, '192.0.2.11', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
    clock.advance(45_000);
    expect(await login(t, A, owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
  });

  it('(f) a correct login is never rate limited by failures from other addresses; the name only slows down, up to 2 s', async () => {
    const clock = manualClock();
    const t = await serve('trustProxy: 1', undefined, clock);
    const owner = await registerOwner(t);
    // 10 attackers, 3 failures each: 30 failures for the name in one window.
    for (let a = 0; a < 10; a++) {
      for (let i = 0; i < 3; i++) expect(await login(t, `203.0.113.${100 + a}`, owner, `guess-${i}!`)).toEqual(wrong);
    }
    expect(await login(t, '198.51.100.1', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
    // The name's delay starts once it has `count` failures, doubles from 250 ms, and stops at 2 s.
    expect(clock.waits).toEqual([250, 500, 1000, ...Array(25).fill(2000)]);
    // An unknown name costs the same delay as a known one (nothing tells them apart).
    clock.waits.length = 0;
    for (let a = 0; a < 3; a++) for (let i = 0; i < 3; i++) await login(t, `203.0.113.${200 + a}`, 'nobody', `guess-${i}!`);
    expect(clock.waits).toEqual([250, 500, 1000, 2000, 2000, 2000]);
  });

  it('concurrent guesses cannot outrun the count: at most `count` passwords are checked', async () => {
    const t = await serve('trustProxy: 1');
    const owner = await registerOwner(t);
    const sockets = await Promise.all(Array.from({ length: 10 }, () => from(t, '203.0.113.50')));
    const answers = await Promise.all(sockets.map((s, i) => call(s, 'auth', { type: 'login', user: { name: owner, password: `guess-${i}!` } })));
    expect(answers.filter((a) => a.code === 'UNAUTHORIZED')).toHaveLength(3);
    expect(answers.filter((a) => a.code === 'RATE_LIMITED')).toHaveLength(7);
  });

  it('IPv6 addresses count per /64; an IPv4-mapped address is its IPv4 address', async () => {
    const t = await serve('trustProxy: 1');
    const owner = await registerOwner(t);
    for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3']) expect(await login(t, a, owner, 'guess-1!')).toEqual(wrong);
    expect(await login(t, '2001:db8:1:2::99', owner, OWNER_PASSWORD)).toMatchObject(limited());
    expect(await login(t, '2001:db8:1:3::1', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
    for (let i = 0; i < 3; i++) expect(await login(t, '203.0.113.77', 'other', 'guess-1!')).toEqual(wrong);
    expect(await login(t, '::ffff:203.0.113.77', 'other', 'guess-1!')).toMatchObject(limited());
  });

  it('without a test clock the name-wide delay really waits', async () => {
    const t = await startServer(`version: 1
server: { trustProxy: 1 }
database: { file: ./db.sqlite }
auth: { bcryptCost: 4, registerEmail: false, loginRateLimit: { count: 1, per: 1m } }
`);
    servers.push(t);
    expect(await login(t, '203.0.113.1', 'someone', 'guess-1!')).toEqual(wrong);
    const started = performance.now();
    expect(await login(t, '203.0.113.2', 'someone', 'guess-2!')).toEqual(wrong);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
  });
});

describe('server.trustProxy: the client address', () => {
  const XFF = '198.51.100.1, 203.0.113.9, 10.0.0.2';
  const whoami = async (t: TestServer, xff?: string) => (await call(await from(t, xff), 'whoami', {})).res;

  it('(d) off by default, false, or a list without the peer: X-Forwarded-For is ignored', async () => {
    for (const setting of ['port: 0', 'trustProxy: false', 'trustProxy: 0', 'trustProxy: [10.0.0.0/8, "192.168.0.1"]']) {
      const t = await serve(setting);
      expect(await whoami(t, XFF), setting).toBe('127.0.0.1');
      expect(await whoami(t), setting).toBe('127.0.0.1');
    }
    // A forged header per attempt changes nothing: every failure counts against the real peer.
    const t = await serve('trustProxy: false');
    const owner = await registerOwner(t);
    for (let i = 0; i < 3; i++) expect(await login(t, `203.0.113.${i}`, owner, `guess-${i}!`)).toEqual(wrong);
    expect(await login(t, '198.51.100.99', owner, OWNER_PASSWORD)).toMatchObject(limited());
    expect(await login(t, undefined, owner, OWNER_PASSWORD)).toMatchObject(limited());
  });

  it('(e) a hop count takes the entry that many hops from the peer; true takes the first; a list skips the trusted proxies', async () => {
    const cases: Array<[string, string]> = [
      ['trustProxy: 1', '10.0.0.2'],
      ['trustProxy: 2', '203.0.113.9'],
      ['trustProxy: 3', '198.51.100.1'],
      ['trustProxy: 9', '198.51.100.1'],
      ['trustProxy: true', '198.51.100.1'],
      ['trustProxy: loopback', '10.0.0.2'],
      ['trustProxy: "127.0.0.1, 10.0.0.0/8"', '203.0.113.9'],
      ['trustProxy: [loopback, 10.0.0.0/8]', '203.0.113.9'],
    ];
    for (const [setting, expected] of cases) {
      const t = await serve(setting);
      expect(await whoami(t, XFF), setting).toBe(expected);
      expect(await whoami(t), setting).toBe('127.0.0.1');
      await t.close();
      servers.splice(servers.indexOf(t), 1);
    }
    // Behind two proxies, what a client writes at the left of the header does not change its address.
    const t = await serve('trustProxy: 2');
    const owner = await registerOwner(t);
    for (let i = 0; i < 3; i++) expect(await login(t, `10.9.9.${i}, 203.0.113.9, 10.0.0.${i + 2}`, owner, `guess-${i}!`)).toEqual(wrong);
    expect(await login(t, 'forged, 203.0.113.9, 10.0.0.7', owner, OWNER_PASSWORD)).toMatchObject(limited());
    expect(await login(t, '203.0.113.10, 10.0.0.2', owner, OWNER_PASSWORD)).toEqual(signedIn(owner));
  });
});

describe('the limiter’s memory', () => {
  it('is bounded: old windows are swept, and a flood from many addresses keeps at most MAX_WINDOWS', async () => {
    const clock = manualClock();
    const limiter = new LoginLimiter(5, 60_000, clock);
    const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    let most = 0;
    // Each failure keeps three windows (name+address, address, name): a flood within one window.
    for (let i = 0; i < MAX_WINDOWS; i++) {
      await limiter.attempt(`user${i}`, address(i));
      most = Math.max(most, limiter.size);
    }
    expect(most).toBeLessThanOrEqual(MAX_WINDOWS);
    expect(limiter.size).toBeGreaterThan(MAX_WINDOWS / 2);
    // Once the window has passed, the next sweep forgets them all.
    clock.advance(60_000);
    let i = 0;
    while (limiter.size > 100 && i < MAX_WINDOWS) await limiter.attempt(`late${i}`, address(i++));
    expect(limiter.size).toBeLessThanOrEqual(100);
  });
});

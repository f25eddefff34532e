import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { watchServer, type Watching } from '../../src/reload/watcher.js';
import { call, next, startServer, type TestServer } from '../support/util.js';
import { hasChromium, launch, pageProblems } from './browser.js';

const GREET = `
  greet:
    description: Says hello a few times.
    params:
      type: object
      properties:
        name: { type: string, minLength: 1, default: world }
        times: { type: integer, minimum: 1, maximum: 3 }
      required: [times]
      additionalProperties: false
    reply: { greeting: "Hello, {{params.name}}!", times: "{{params.times}}" }
  whoami:
    description: The signed-in user.
    auth: required
    reply: { me: "{{auth.name}}" }
`;
const MANIFEST = `version: 1\ndatabase: { driver: sqlite, file: ./data/app.db }\nroutes:${GREET}`;
const RELOADED = `${MANIFEST}  shout:\n    description: Added while the page was open.\n    params: { type: object, properties: { text: { type: string, examples: [hey] } }, required: [text] }\n    reply: { loud: "{{params.text}}!" }\n`;

const SCHEDULED = `${MANIFEST}schedules:
  beat:
    description: Ticks every second.
    every: 1s
    reply: { beat: "{{tick}}" }
    emit: all
  nightly:
    cron: "0 3 * * *"
    sql: SELECT :tick AS tick
    emit: { to: room, room: ops }
`;
const RESCHEDULED = `${SCHEDULED}  weekly:\n    cron: "0 0 * * 1"\n    reply: 1\n    emit: { to: user, user: "42" }\n`;

/** A live route (keyed by board, a default board 1) and a write to its table; sign-in optional, so that a sign-out can end a subscription. */
const LIVE = `version: 1
database: { file: ./db.sqlite, schema: [./schema.sql], migrate: true }
auth: { bcryptCost: 4 }
routes:
  notes.live:
    description: The notes of a board, kept current.
    auth: optional
    params: { type: object, properties: { board: { type: integer, default: 1 } }, additionalProperties: false }
    live: true
    sql: SELECT id, text FROM notes WHERE board = :board ORDER BY id
  notes.add:
    params: { type: object, properties: { board: { type: integer }, text: { type: string } }, required: [board, text], additionalProperties: false }
    sql: INSERT INTO notes (board, text) VALUES (:board, :text)
`;
const NOTES = { 'schema.sql': 'CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, board INTEGER NOT NULL, text TEXT NOT NULL);\n' };

/** A schedule's entry in the list under the routes. */
function schedule(page: Page, name: string): Locator {
  return page.locator(`[data-testid="schedule"][data-name="${name}"]`);
}

/** The timeline's entries for an event, by direction (`out`, `ack`, `in`, `sys`) and status. */
function entries(page: Page, event: string, dir: string, status?: 'ok' | 'error' | 'info'): Locator {
  return page.locator(`[data-testid="entry"][data-event="${event}"][data-dir="${dir}"]${status ? `[data-status="${status}"]` : ''}`);
}

async function payloadOf(page: Page): Promise<unknown> {
  return JSON.parse(await page.getByTestId('payload').inputValue());
}

describe.runIf(hasChromium)('playground (Chromium)', () => {
  let browser: Browser;
  let context: BrowserContext | undefined;
  let t: TestServer | undefined;
  let w: Watching | undefined;

  beforeAll(async () => {
    browser = await launch();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
    await w?.close();
    w = undefined;
    await t?.close();
    t = undefined;
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('lists the routes, sends valid and invalid payloads, signs in, and follows a hot reload without a refresh', async () => {
    t = await startServer(MANIFEST);
    w = watchServer(t.server);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = pageProblems(page);
    await page.goto(t.url + '/');

    // Every route of the manifest, built-ins included, with description and badges.
    await page.getByTestId('route-greet').waitFor();
    expect(await page.getByTestId('route-greet').textContent()).toContain('Says hello a few times.');
    expect(await page.getByTestId('route-whoami').textContent()).toContain('sign-in required');
    await page.getByTestId('route-auth').getByTestId('badge-builtin').waitFor();
    await page.getByTestId('status').filter({ hasText: 'connected' }).waitFor();
    // No schedules: no section for them.
    expect(await page.getByTestId('schedules-section').isVisible()).toBe(false);
    expect(await page.getByTestId('schedule').count()).toBe(0);

    // The editor is filled from the schema: the default, and a placeholder for the required integer.
    await page.getByTestId('route-greet').click();
    await page.getByTestId('route-title').filter({ hasText: 'greet' }).waitFor();
    expect(await payloadOf(page)).toEqual({ name: 'world', times: 1 });
    expect(await page.getByTestId('fields').textContent()).toContain('maximum: 3');

    // A valid payload: the sent envelope and its ack.
    await page.getByTestId('send').click();
    const ok = entries(page, 'greet', 'ack', 'ok');
    await ok.waitFor();
    expect(await ok.textContent()).toContain('Hello, world!');
    await entries(page, 'greet', 'out').first().waitFor();

    // An invalid one: the error envelope, styled as an error, with its code.
    await page.getByTestId('payload').fill('{ "times": "many" }');
    await page.getByTestId('send').click();
    const bad = entries(page, 'greet', 'ack', 'error');
    await bad.waitFor();
    expect(await bad.getByTestId('entry-tag').textContent()).toContain('VALIDATION');
    expect(await bad.textContent()).toContain('/times');

    // Without an ack the reply arrives as an event (socket.onAny).
    await page.getByTestId('payload').fill('{ "name": "Ada", "times": 2 }');
    await page.getByTestId('no-ack').check();
    await page.getByTestId('send').click();
    const pushed = entries(page, 'greet_data', 'in', 'ok');
    await pushed.waitFor();
    expect(await pushed.textContent()).toContain('Hello, Ada!');
    await page.getByTestId('no-ack').uncheck();

    // Sign up, use a route that needs a user, log out, log in again.
    expect(await page.getByTestId('whoami').textContent()).toBe('guest');
    await page.getByTestId('auth-name').fill('ada');
    await page.getByTestId('auth-password').fill('pa55!word');
    await page.getByTestId('auth-email').fill('ada@example.com');
    await page.getByTestId('register').click();
    await page.getByTestId('whoami').filter({ hasText: /^ada$/ }).waitFor();
    // The password never reaches the timeline.
    expect(await page.getByTestId('timeline').textContent()).not.toContain('pa55!word');

    await page.getByTestId('route-whoami').click();
    await page.getByTestId('send').click();
    const me = entries(page, 'whoami', 'ack', 'ok');
    await me.waitFor();
    expect(await me.textContent()).toContain('"ada"');

    await page.getByTestId('logout').click();
    await page.getByTestId('whoami').filter({ hasText: 'guest' }).waitFor();
    await page.getByTestId('send').click();
    await entries(page, 'whoami', 'ack', 'error').filter({ hasText: 'UNAUTHORIZED' }).waitFor();

    await page.getByTestId('auth-name').fill('ada');
    await page.getByTestId('auth-password').fill('wrong!pass1');
    await page.getByTestId('login').click();
    await page
      .getByTestId('auth-error')
      .filter({ hasText: /wrong name or password/i })
      .waitFor();
    await page.getByTestId('auth-password').fill('pa55!word');
    await page.getByTestId('login').click();
    await page.getByTestId('whoami').filter({ hasText: /^ada$/ }).waitFor();

    // Hot reload: a route added to the manifest shows up in the open page, which is not reloaded.
    await page.evaluate('window.__sameDocument = true');
    const shout = page.getByTestId('route-shout');
    for (let i = 0; i < 40 && !(await shout.isVisible()); i++) {
      // Rewritten until the watcher (attaching asynchronously) has seen it; the same text each time.
      t.write('sockey.yaml', RELOADED);
      await shout.waitFor({ timeout: 500 }).catch(() => undefined);
    }
    await shout.waitFor();
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await entries(page, 'routes reloaded', 'sys').first().waitFor();
    expect(await entries(page, 'greet', 'ack').count()).toBe(2); // the timeline survived

    await shout.click();
    expect(await payloadOf(page)).toEqual({ text: 'hey' });
    await page.getByTestId('send').click();
    const loud = entries(page, 'shout', 'ack', 'ok');
    await loud.waitFor();
    expect(await loud.textContent()).toContain('hey!');

    expect(problems).toEqual([]);
  });

  it('shows the schedules under the routes: when, what runs, where it emits, the latest and next tick; a reload adds one', async () => {
    t = await startServer(SCHEDULED);
    w = watchServer(t.server);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = pageProblems(page);
    await page.goto(t.url + '/');

    await page.getByTestId('schedules-section').waitFor();
    expect(await page.getByTestId('schedule-count').textContent()).toBe('2');
    expect(await page.getByTestId('schedule-name').allTextContents()).toEqual(['beat', 'nightly']);
    const field = (name: string, f: string) => schedule(page, name).getByTestId(`schedule-${f}`).textContent();
    const beat = schedule(page, 'beat');
    expect(await beat.textContent()).toContain('Ticks every second.');
    expect([await field('beat', 'when'), await field('beat', 'action'), await field('beat', 'emit')]).toEqual(['every 1000ms', 'reply', 'all']);
    expect(await field('beat', 'next')).toMatch(/^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d$/); // with the date when it is not today
    expect([await field('nightly', 'when'), await field('nightly', 'action'), await field('nightly', 'emit')]).toEqual(['cron 0 3 * * *', 'sql', 'room ops']);
    // 03:00 UTC, in the browser's time zone: today's time, or a date and time.
    expect(await schedule(page, 'nightly').getByTestId('schedule-next').getAttribute('title')).toMatch(/T03:00:00\.000Z$/);
    expect(await field('nightly', 'last')).toBe('not yet');
    // The page asks again once the shown next tick has passed: the tick that ran is the latest.
    await beat
      .getByTestId('schedule-last')
      .filter({ hasText: /^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d · ok$/ })
      .waitFor({ timeout: 5000 });
    // Its emit (to all) reached the page's socket too.
    await entries(page, 'beat_data', 'in', 'ok').first().waitFor();
    expect(await page.getByTestId('schedules').textContent()).not.toContain('SELECT');

    // A reload that adds a schedule: it shows up without a refresh.
    await page.evaluate('window.__sameDocument = true');
    const weekly = schedule(page, 'weekly');
    for (let i = 0; i < 40 && !(await weekly.isVisible()); i++) {
      t.write('sockey.yaml', RESCHEDULED);
      await weekly.waitFor({ timeout: 500 }).catch(() => undefined);
    }
    await weekly.waitFor();
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(await page.getByTestId('schedule-count').textContent()).toBe('3');
    expect([await field('weekly', 'when'), await field('weekly', 'action'), await field('weekly', 'emit')]).toEqual(['cron 0 0 * * 1', 'reply', 'user 42']);
    const reloaded = entries(page, 'schedules reloaded', 'sys');
    await reloaded.first().waitFor();
    expect(await reloaded.first().getByTestId('entry-tag').textContent()).toBe('+1 -0 ~0');
    // The routes did not change: no routes entry.
    expect(await entries(page, 'routes reloaded', 'sys').count()).toBe(0);

    expect(problems).toEqual([]);
  });
  it('marks live routes; a call subscribes the page, its pushes are marked in the timeline, unsubscribe and a sign-out end it; the server-wide counts follow', async () => {
    t = await startServer(LIVE, NOTES);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = pageProblems(page);
    await page.goto(t.url + '/');
    const mine = page.getByTestId('live-sub');
    const group = (params: string) => page.locator(`[data-testid="live-group"][data-event="notes.live"][data-params='${params}']`);
    const stat = (k: string) => page.getByTestId(`live-stat-${k}`);
    const pushes = page.locator('[data-testid="entry"][data-event="notes.live_data"][data-dir="in"][data-kind="push"]');

    // The route list marks the live route (and only it); its detail says what re-runs it.
    await page.getByTestId('route-notes.live').getByTestId('badge-live').waitFor();
    expect(await page.getByTestId('route-notes.add').getByTestId('badge-live').count()).toBe(0);
    await page.getByTestId('route-notes.live').click();
    await page.getByTestId('route-title').filter({ hasText: 'notes.live' }).waitFor();
    expect(await page.getByTestId('meta-live').textContent()).toBe('live on notes by notes.board');
    expect(await payloadOf(page)).toEqual({ board: 1 });
    await page.getByTestId('status').filter({ hasText: 'connected' }).waitFor();
    // Nothing subscribed yet, here or on the server.
    await page.getByTestId('live-section').waitFor();
    expect(await mine.count()).toBe(0);
    await stat('subscriptions')
      .filter({ hasText: /^0 subscriptions$/ })
      .waitFor();

    // A call from the page subscribes it: listed with its params, and on the server's list.
    await page.getByTestId('send').click();
    await entries(page, 'notes.live', 'ack', 'ok').waitFor();
    await mine.filter({ hasText: '{"board":1}' }).waitFor();
    expect(await page.getByTestId('live-count').textContent()).toBe('1');
    expect(await mine.getByTestId('live-sub-pushes').textContent()).toContain('no push yet');
    await group('{"board":1}')
      .getByTestId('live-group-subscribers')
      .filter({ hasText: /^1 socket$/ })
      .waitFor();

    // Another socket subscribes to the same board: the server's list follows (a `live` notice, state.json again).
    const other = await t.client();
    expect(await call(other, 'notes.live', { board: 1 })).toMatchObject({ ok: true, res: [] });
    await group('{"board":1}')
      .getByTestId('live-group-subscribers')
      .filter({ hasText: /^2 sockets$/ })
      .waitFor();

    // A write from that socket: the page receives the push, marked as its subscription's.
    const otherPush = next(other, 'notes.live_data');
    expect(await call(other, 'notes.add', { board: 1, text: 'hello' })).toMatchObject({ ok: true });
    await otherPush;
    await pushes.first().waitFor();
    expect(await pushes.first().textContent()).toContain('"hello"');
    expect(await pushes.first().getByTestId('entry-tag').textContent()).toBe('push · {"board":1}');
    await mine
      .getByTestId('live-sub-pushes')
      .filter({ hasText: /^1 push · last / })
      .waitFor();
    await stat('pushes')
      .filter({ hasText: /^2 pushes$/ })
      .waitFor();
    // Another board's write is not the page's.
    expect(await call(other, 'notes.add', { board: 2, text: 'elsewhere' })).toMatchObject({ ok: true });

    // Unsubscribe: the `live` event with the subscription's params; on { unsubscribed: 1 } it is gone.
    await mine.getByTestId('live-unsubscribe').click();
    const left = entries(page, 'live', 'ack', 'ok');
    await left.waitFor();
    expect(await left.textContent()).toMatch(/"unsubscribed":\s*1/);
    expect(await entries(page, 'live', 'out').textContent()).toMatch(/"type":\s*"unsubscribe"[\s\S]*"event":\s*"notes.live"[\s\S]*"board":\s*1/);
    await mine.waitFor({ state: 'detached' });
    await group('{"board":1}')
      .getByTestId('live-group-subscribers')
      .filter({ hasText: /^1 socket$/ })
      .waitFor();
    // The other socket goes on receiving; the page no more.
    const again = next(other, 'notes.live_data');
    await call(other, 'notes.add', { board: 1, text: 'after' });
    await again;
    await stat('pushes')
      .filter({ hasText: /^3 pushes$/ })
      .waitFor();
    expect(await pushes.count()).toBe(1);

    // Made as a signed-in user, a subscription ends with the sign-out: LIVE_ENDED says why, and it is gone.
    await page.getByTestId('auth-name').fill('ada');
    await page.getByTestId('auth-password').fill('pa55!word');
    await page.getByTestId('auth-email').fill('ada@example.com');
    await page.getByTestId('register').click();
    await page.getByTestId('whoami').filter({ hasText: /^ada$/ }).waitFor();
    await page.getByTestId('route-notes.live').click();
    await page.getByTestId('send').click();
    await mine.waitFor();
    await page.getByTestId('logout').click();
    await entries(page, 'notes.live_error', 'in', 'error').filter({ hasText: 'LIVE_ENDED' }).waitFor();
    await mine.waitFor({ state: 'detached' });
    const ended = page.getByTestId('live-ended').first();
    expect(await ended.getByTestId('live-ended-reason').textContent()).toBe('signed-out');
    expect(await ended.textContent()).toContain('notes.live {"board":1} ended');
    await group('{"board":1}')
      .getByTestId('live-group-subscribers')
      .filter({ hasText: /^1 socket$/ })
      .waitFor();

    expect(problems).toEqual([]);
  });
});

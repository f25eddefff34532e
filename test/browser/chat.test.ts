import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/util.js';
import { hasChromium, launch, pageProblems } from './browser.js';

const CHAT = fileURLToPath(new URL('../../examples/chat/', import.meta.url));

/** examples/chat as it is (the SQLite manifest, its schema and its page), for a temp folder. */
function chatFiles(): Record<string, string> {
  const files: Record<string, string> = { 'schema.sqlite.sql': readFileSync(path.join(CHAT, 'schema.sqlite.sql'), 'utf8') };
  for (const name of readdirSync(path.join(CHAT, 'public'))) files[`public/${name}`] = readFileSync(path.join(CHAT, 'public', name), 'utf8');
  return files;
}

describe.runIf(hasChromium)('examples/chat (Chromium)', () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let t: TestServer | undefined;

  beforeAll(async () => {
    browser = await launch();
  });
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
    await t?.close();
    t = undefined;
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A new browser (its own storage) with a new account, in #general. */
  async function signUp(name: string): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = pageProblems(page);
    await page.goto(t!.url + '/');
    await page.getByTestId('auth-name').fill(name);
    await page.getByTestId('auth-password').fill('s3cret!pw');
    await page.getByTestId('register').click();
    await page.getByTestId('me').filter({ hasText: name }).waitFor();
    await page.getByTestId('room-title').filter({ hasText: '# general' }).waitFor();
    return { page, problems };
  }

  it('delivers messages and typing notices between two users, and keeps the history', async () => {
    t = await startServer(readFileSync(path.join(CHAT, 'sockey.yaml'), 'utf8'), chatFiles());
    const alice = await signUp('alice');
    const bob = await signUp('bob');

    // Typing: bob sees alice typing, and the server's 3 s timer (not the page's 6 s fallback) ends it.
    await alice.page.getByTestId('composer').pressSequentially('hel');
    await bob.page.getByTestId('typing').filter({ hasText: 'alice is typing' }).waitFor();
    const typingSeen = Date.now();
    await bob.page.getByTestId('typing').filter({ hasText: /^$/ }).waitFor({ timeout: 5500 });
    expect(Date.now() - typingSeen).toBeLessThan(5500);
    expect(await alice.page.getByTestId('typing').textContent()).toBe(''); // not to herself

    // A message reaches the other user, once.
    await alice.page.getByTestId('composer').fill('hello bob');
    await alice.page.getByTestId('send').click();
    const received = bob.page.getByTestId('message').filter({ hasText: 'hello bob' });
    await received.waitFor();
    expect(await received.textContent()).toContain('alice');
    await alice.page.getByTestId('message').filter({ hasText: 'hello bob' }).waitFor();

    await bob.page.getByTestId('composer').fill('hi alice');
    await bob.page.getByTestId('composer').press('Enter');
    await alice.page.getByTestId('message').filter({ hasText: 'hi alice' }).waitFor();
    // bob's own copy comes on its own packet: wait for it too before counting.
    await bob.page.getByTestId('message').filter({ hasText: 'hi alice' }).waitFor();
    expect(await alice.page.getByTestId('message').count()).toBe(2);
    expect(await bob.page.getByTestId('message').count()).toBe(2);

    // What is said while bob is in another room is in #general's history (SQL) when he is back.
    await bob.page.getByTestId('room-random').click();
    await bob.page.getByTestId('room-title').filter({ hasText: '# random' }).waitFor();
    await alice.page.getByTestId('composer').fill('only in general');
    await alice.page.getByTestId('send').click();
    await alice.page.getByTestId('message').filter({ hasText: 'only in general' }).waitFor();

    await bob.page.getByTestId('room-general').click();
    await bob.page.getByTestId('message').filter({ hasText: 'only in general' }).waitFor();

    // A reload keeps bob signed in (the token goes in the handshake) and in #general.
    await bob.page.reload();
    await bob.page.getByTestId('me').filter({ hasText: 'bob' }).waitFor();
    await bob.page.getByTestId('message').nth(2).waitFor();
    expect(await bob.page.getByTestId('messages').textContent()).toMatch(/hello bob[\s\S]*hi alice[\s\S]*only in general/);

    expect([...alice.problems, ...bob.problems]).toEqual([]);
  });
});

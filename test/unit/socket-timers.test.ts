import { afterEach, describe, expect, it } from 'vitest';
import { SocketTimers } from '../../src/core/timers.js';

/**
 * SocketTimers over real, short timers. That a cleared timer never fires is
 * shown against a later timer (Node runs due timers in order): once one due
 * after it has run, the cleared one would have run before.
 */

const made: SocketTimers[] = [];
afterEach(() => {
  for (const t of made.splice(0)) t.clearAll();
});

function socketTimers(): SocketTimers {
  const t = new SocketTimers();
  made.push(t);
  return t;
}

/** Resolves after every timer of `ms` or less set before it has run. */
const later = (ms = 5) => new Promise<void>((resolve) => setTimeout(resolve, ms + 5));

describe('SocketTimers', () => {
  it('after() fires once and leaves the set; every() repeats until cleared', async () => {
    const timers = socketTimers();
    const fired: string[] = [];
    timers.after('once', 5, () => fired.push('once'));
    timers.every('tick', 2, () => fired.push('tick'));
    expect(timers.count()).toBe(2);
    expect(timers.routes().sort()).toEqual(['once', 'tick']);
    await later(10);
    expect(fired.filter((f) => f === 'once')).toEqual(['once']);
    expect(fired.filter((f) => f === 'tick').length).toBeGreaterThan(1);
    expect(timers.routes()).toEqual(['tick']);
    timers.clear('tick');
    const ticks = fired.length;
    await later();
    expect(fired.length).toBe(ticks);
    expect(timers.count()).toBe(0);
  });

  it('clear() of a key stops all of its timers (a route started again), others run on', async () => {
    const timers = socketTimers();
    const fired: string[] = [];
    timers.after('tick', 5, () => fired.push('first a'));
    timers.after('tick', 5, () => fired.push('first b'));
    timers.after('hook:x', 5, () => fired.push('hook'));
    timers.clear('tick');
    timers.after('tick', 5, () => fired.push('second'));
    timers.clear('no such key');
    await later();
    expect(fired.sort()).toEqual(['hook', 'second']);
  });

  it('remove() stops one timer', async () => {
    const timers = socketTimers();
    const fired: string[] = [];
    const a = timers.after('hook:x', 5, () => fired.push('a'))!;
    timers.after('hook:x', 5, () => fired.push('b'));
    timers.remove('hook:x', a);
    expect(timers.count()).toBe(1);
    await later();
    expect(fired).toEqual(['b']);
  });

  it('clearSignedIn() clears only the keys started as the user', async () => {
    const timers = socketTimers();
    const fired: string[] = [];
    timers.after('guest', 5, () => fired.push('guest'));
    timers.after('mine', 5, () => fired.push('mine'), true);
    timers.every('hook:mine', 2, () => fired.push('hook mine'), true);
    timers.after('hook:guest', 5, () => fired.push('hook guest'));
    timers.clearSignedIn();
    expect(timers.routes().sort()).toEqual(['guest', 'hook:guest']);
    await later();
    expect(fired.sort()).toEqual(['guest', 'hook guest']);
  });

  it('a key cleared and started again as a guest is not cleared by a sign-out... unless started as the user again', () => {
    const timers = socketTimers();
    timers.after('r', 1000, () => undefined, true);
    timers.clear('r');
    timers.after('r', 1000, () => undefined);
    timers.clearSignedIn();
    expect(timers.routes()).toEqual(['r']);
    timers.after('r', 1000, () => undefined, true);
    timers.clearSignedIn();
    expect(timers.routes()).toEqual([]);
  });

  it('clearAll() (a disconnect) clears everything, and what comes later does not start', async () => {
    const timers = socketTimers();
    const fired: string[] = [];
    timers.every('tick', 2, () => fired.push('tick'));
    timers.after('hook:x', 5, () => fired.push('hook'), true);
    timers.clearAll();
    expect(timers.count()).toBe(0);
    // A message that was under way when the socket went: its timers must not outlive it.
    expect(timers.after('late', 1, () => fired.push('late'))).toBeUndefined();
    expect(timers.every('late', 1, () => fired.push('late'))).toBeUndefined();
    expect(timers.count()).toBe(0);
    await later();
    expect(fired).toEqual([]);
  });
});

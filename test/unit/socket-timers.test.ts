import { afterEach, describe, expect, it } from 'vitest';
import { SocketTimers } from '../../src/core/timers.js';

/**
 * SocketTimers over real, short timers. That a cleared timer never fires is
 * shown against a later timer (Node runs due timers in order): once one due
 * after it has run, the cleared one would have run before.
 */

const made: NodeJS.Timeout[] = [];
afterEach(() => {
  for (const t of made.splice(0)) clearTimeout(t);
});

/** A timer that records its name in `fired` after `ms`. */
function timer(fired: string[], name: string, ms = 5): NodeJS.Timeout {
  const t = setTimeout(() => fired.push(name), ms);
  made.push(t);
  return t;
}

/** Resolves after every timer of `ms` or less set before it has run. */
const later = (ms = 5) => new Promise<void>((resolve) => setTimeout(resolve, ms + 5));

describe('SocketTimers', () => {
  it('replace() starts a route\'s timers, tracked by the route; starting it again clears the old ones', async () => {
    const timers = new SocketTimers();
    const fired: string[] = [];
    timers.replace('tick', (track) => {
      track(timer(fired, 'first a'));
      track(timer(fired, 'first b'));
    });
    expect(timers.count()).toBe(2);
    expect(timers.routes()).toEqual(['tick']);
    timers.replace('tick', (track) => track(timer(fired, 'second')));
    expect(timers.count()).toBe(1);
    await later();
    expect(fired).toEqual(['second']);
  });

  it('untrack() forgets a timer that is done: the route is no longer listed', () => {
    const timers = new SocketTimers();
    let untrackIt: (t: NodeJS.Timeout) => void = () => {};
    const t = timer([], 'x', 1000);
    timers.replace('once', (track, untrack) => {
      track(t);
      untrackIt = untrack;
    });
    expect(timers.routes()).toEqual(['once']);
    untrackIt(t);
    expect(timers.count()).toBe(0);
    expect(timers.routes()).toEqual([]);
  });

  it('add() adds under a key without clearing the others; remove() clears one', async () => {
    const timers = new SocketTimers();
    const fired: string[] = [];
    const a = timer(fired, 'a');
    timers.add('hook:x', a);
    timers.add('hook:x', timer(fired, 'b'));
    timers.replace('tick', (track) => track(timer(fired, 'tick')));
    expect(timers.count()).toBe(3);
    timers.remove('hook:x', a);
    expect(timers.count()).toBe(2);
    expect(timers.routes().sort()).toEqual(['hook:x', 'tick']);
    await later();
    expect(fired.sort()).toEqual(['b', 'tick']);
  });

  it('clear() clears one route; clearSignedIn() only the routes started as the user', async () => {
    const timers = new SocketTimers();
    const fired: string[] = [];
    timers.replace('guest', (track) => track(timer(fired, 'guest')));
    timers.replace('mine', (track) => track(timer(fired, 'mine')), true);
    timers.add('hook:mine', timer(fired, 'hook mine'), true);
    timers.add('hook:guest', timer(fired, 'hook guest'));
    timers.replace('gone', (track) => track(timer(fired, 'gone')));
    timers.clear('gone');
    timers.clear('no such route');
    expect(timers.routes().sort()).toEqual(['guest', 'hook:guest', 'hook:mine', 'mine']);
    timers.clearSignedIn();
    expect(timers.routes().sort()).toEqual(['guest', 'hook:guest']);
    await later();
    expect(fired.sort()).toEqual(['guest', 'hook guest']);
  });

  it('a route started again as a guest is no longer cleared by a sign-out... unless started as the user again', () => {
    const timers = new SocketTimers();
    timers.replace('r', (track) => track(timer([], 'as user', 1000)), true);
    timers.replace('r', (track) => track(timer([], 'as guest', 1000)));
    timers.clearSignedIn();
    expect(timers.routes()).toEqual(['r']);
    timers.replace('r', (track) => track(timer([], 'as user again', 1000)), true);
    timers.clearSignedIn();
    expect(timers.routes()).toEqual([]);
  });

  it('clearAll() (a disconnect) clears everything, and what comes later is cleared at once', async () => {
    const timers = new SocketTimers();
    const fired: string[] = [];
    timers.replace('tick', (track) => track(timer(fired, 'tick')));
    timers.add('hook:x', timer(fired, 'hook'), true);
    timers.clearAll();
    expect(timers.count()).toBe(0);
    // A message that was under way when the socket went: its timers must not outlive it.
    let started = false;
    timers.replace('late', (track) => {
      started = true;
      track(timer(fired, 'late'));
    });
    expect(started).toBe(false);
    timers.add('hook:late', timer(fired, 'late hook'));
    expect(timers.count()).toBe(0);
    await later();
    expect(fired).toEqual([]);
  });
});

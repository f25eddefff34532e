import { describe, expect, it } from 'vitest';
import type { AuthUser, CallState } from '../../src/core/route.js';
import { compileRateLimit } from '../../src/directives/rate-limit.js';

/** What a limiter reads of a call: the socket's windows and the signed-in user. */
function socket() {
  const state = { windows: new Map() } as unknown as CallState;
  return (auth: AuthUser | null = null) => ({ state, auth });
}

const ada: AuthUser = { id: 1, name: 'ada' };
const bob: AuthUser = { id: 2, name: 'bob' };

describe('compileRateLimit: fixed windows per socket and per user, at an explicit now', () => {
  it('allows count calls per window, then answers the wait until the window ends', () => {
    const limit = compileRateLimit({ count: 2, perMs: 1000 });
    expect([limit.count, limit.perMs]).toEqual([2, 1000]);
    const a = socket();
    expect(limit.take(a(), 5000)).toBe(0);
    expect(limit.take(a(), 5010)).toBe(0);
    expect(limit.take(a(), 5020)).toBe(980);
    expect(limit.take(a(), 5999)).toBe(1);
    // The window started with the first call: at start + perMs a new one begins.
    expect(limit.take(a(), 6000)).toBe(0);
    expect(limit.take(a(), 6001)).toBe(0);
    expect(limit.take(a(), 6002)).toBe(998);
  });

  it('a refused call is not counted', () => {
    const limit = compileRateLimit({ count: 1, perMs: 100 });
    const a = socket();
    expect(limit.take(a(), 0)).toBe(0);
    for (let now = 1; now < 100; now += 7) expect(limit.take(a(), now)).toBe(100 - now);
    expect(limit.take(a(), 100)).toBe(0);
    expect(limit.take(a(), 150)).toBe(50);
  });

  it('each socket has its own window, and each limiter (route) its own on a socket', () => {
    const one = compileRateLimit({ count: 1, perMs: 1000 });
    const two = compileRateLimit({ count: 1, perMs: 1000 });
    const [a, b] = [socket(), socket()];
    expect(one.take(a(), 0)).toBe(0);
    expect(one.take(a(), 1)).toBe(999);
    expect(one.take(b(), 1)).toBe(0);
    expect(two.take(a(), 1)).toBe(0);
    expect(two.take(a(), 2)).toBe(999);
  });

  it('a signed-in user is counted across their sockets; anonymous calls and other users are not', () => {
    const limit = compileRateLimit({ count: 2, perMs: 1000 });
    const [a, b, c] = [socket(), socket(), socket()];
    expect(limit.take(a(ada), 0)).toBe(0);
    expect(limit.take(b(ada), 100)).toBe(0);
    // b's own window has room, ada's does not (it started at 0).
    expect(limit.take(b(ada), 200)).toBe(800);
    expect(limit.take(c(ada), 300)).toBe(700);
    // The same sockets, anonymous or as someone else, are limited by their own windows only.
    expect(limit.take(c(), 300)).toBe(0);
    expect(limit.take(c(bob), 300)).toBe(0);
    // ada's window ends at 1000.
    expect(limit.take(socket()(ada), 999)).toBe(1);
    expect(limit.take(socket()(ada), 1000)).toBe(0);
  });

  it("both windows must have room; the socket's wait is answered first", () => {
    const limit = compileRateLimit({ count: 2, perMs: 1000 });
    const a = socket();
    expect(limit.take(a(), 0)).toBe(0);
    expect(limit.take(a(), 500)).toBe(0);
    // The socket's window (from 0) is full; ada's has room, and is not charged for the refusal.
    expect(limit.take(a(ada), 600)).toBe(400);
    expect(limit.take(socket()(ada), 700)).toBe(0);
    expect(limit.take(socket()(ada), 800)).toBe(0);
    // Now ada's window is full, the socket's is new.
    expect(limit.take(socket()(ada), 900)).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { ADDRESS_FACTOR, LoginLimiter, NAME_DELAY_BASE_MS, NAME_DELAY_MAX_MS } from '../../src/auth/login-limiter.js';
import { manualClock } from '../support/clock.js';

/** The error an over-the-limit attempt rejects with. */
const limited = (retryAfterMs: number) => expect.objectContaining({ name: 'SockeyError', code: 'RATE_LIMITED', details: { retryAfterMs } });

/** `n` failed attempts (each left unsettled: an attempt counts as a failure from its start). */
async function fail(limiter: LoginLimiter, name: string, address: string, n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await limiter.attempt(name, address);
}

describe('LoginLimiter, on a manual clock', () => {
  it('per (name, address): count failures a window, then RATE_LIMITED until the window ends', async () => {
    const clock = manualClock();
    const limiter = new LoginLimiter(3, 60_000, clock);
    await fail(limiter, 'ann', '192.0.2.1', 3);
    clock.advance(10_000);
    await expect(limiter.attempt('ann', '192.0.2.1')).rejects.toEqual(limited(50_000));
    // A refused attempt is not counted: the window still ends 60 s after it started.
    clock.advance(49_999);
    await expect(limiter.attempt('ann', '192.0.2.1')).rejects.toEqual(limited(1));
    clock.advance(1);
    await expect(limiter.attempt('ann', '192.0.2.1')).resolves.toBeDefined();
  });

  it('another name from that address, and that name from another address, are not refused', async () => {
    const limiter = new LoginLimiter(2, 60_000, manualClock());
    await fail(limiter, 'ann', '192.0.2.1', 2);
    await expect(limiter.attempt('ann', '192.0.2.1')).rejects.toEqual(limited(60_000));
    await expect(limiter.attempt('bob', '192.0.2.1')).resolves.toBeDefined();
    await expect(limiter.attempt('ann', '192.0.2.2')).resolves.toBeDefined();
  });

  it("succeed() forgets the pair's failures and is not counted; cancel() is not counted", async () => {
    const limiter = new LoginLimiter(2, 60_000, manualClock());
    await fail(limiter, 'ann', '192.0.2.1');
    await (await limiter.attempt('ann', '192.0.2.1')).succeed();
    // The earlier failure is forgotten too: two more fit.
    await fail(limiter, 'ann', '192.0.2.1');
    await (await limiter.attempt('ann', '192.0.2.1')).cancel();
    await fail(limiter, 'ann', '192.0.2.1');
    await expect(limiter.attempt('ann', '192.0.2.1')).rejects.toEqual(limited(60_000));
  });

  it(`per address, across names: ${ADDRESS_FACTOR} x count failures`, async () => {
    const limiter = new LoginLimiter(3, 60_000, manualClock());
    for (let i = 0; i < 3 * ADDRESS_FACTOR; i++) await fail(limiter, `ghost${i}`, '203.0.113.5');
    await expect(limiter.attempt('anyone', '203.0.113.5')).rejects.toEqual(limited(60_000));
    await expect(limiter.attempt('anyone', '203.0.113.6')).resolves.toBeDefined();
  });

  it('IPv6 addresses count per /64; IPv4 addresses each on their own', async () => {
    const limiter = new LoginLimiter(2, 60_000, manualClock());
    await fail(limiter, 'ann', '2001:db8:1:2::1');
    await fail(limiter, 'ann', '2001:db8:1:2:ffff::9');
    await expect(limiter.attempt('ann', '2001:db8:1:2::77')).rejects.toEqual(limited(60_000));
    await expect(limiter.attempt('ann', '2001:db8:1:3::1')).resolves.toBeDefined();
    await fail(limiter, 'bob', '198.51.100.1', 2);
    await expect(limiter.attempt('bob', '198.51.100.2')).resolves.toBeDefined();
  });

  it('per name, from anywhere: no lockout, a delay from count failures that doubles up to the cap', async () => {
    const clock = manualClock();
    const limiter = new LoginLimiter(3, 60_000, clock);
    for (let i = 0; i < 10; i++) await fail(limiter, 'ann', `203.0.113.${i}`);
    expect(clock.waits).toEqual([NAME_DELAY_BASE_MS, 2 * NAME_DELAY_BASE_MS, 4 * NAME_DELAY_BASE_MS, NAME_DELAY_MAX_MS, NAME_DELAY_MAX_MS, NAME_DELAY_MAX_MS, NAME_DELAY_MAX_MS]);
    expect([250, 2000]).toEqual([NAME_DELAY_BASE_MS, NAME_DELAY_MAX_MS]);
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((f) => limiter.delayFor(f))).toEqual([0, 0, 0, 250, 500, 1000, 2000, 2000]);
    // Once the window passed, the name starts over.
    clock.waits.length = 0;
    clock.advance(60_000);
    await fail(limiter, 'ann', '203.0.113.200', 3);
    expect(clock.waits).toEqual([]);
  });

  it('concurrent attempts are counted from their start: no more than count get past the check', async () => {
    const limiter = new LoginLimiter(3, 60_000, manualClock());
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => limiter.attempt('ann', '192.0.2.1')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(7);
  });

  it('size counts the windows kept: name+address, address and name per failure', async () => {
    const clock = manualClock();
    const limiter = new LoginLimiter(3, 60_000, clock);
    expect(limiter.size).toBe(0);
    await fail(limiter, 'ann', '192.0.2.1');
    expect(limiter.size).toBe(3);
    await fail(limiter, 'ann', '192.0.2.1');
    expect(limiter.size).toBe(3);
    await fail(limiter, 'bob', '192.0.2.1');
    expect(limiter.size).toBe(5);
  });
});

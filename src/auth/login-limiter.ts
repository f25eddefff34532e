import { SockeyError } from '../runtime/errors.js';

/**
 * Counts failed logins per name and per address; past `count` failures for a
 * name (or ADDRESS_FACTOR times that from one address, which many users may
 * share behind a NAT) in `perMs`, logins are answered RATE_LIMITED.
 */
const ADDRESS_FACTOR = 4;

export class LoginLimiter {
  private readonly failures = new Map<string, { start: number; count: number }>();

  constructor(readonly count: number, readonly perMs: number) {}

  /** Throws RATE_LIMITED when either key is over the limit. */
  check(keys: string[], now = Date.now()): void {
    for (const key of keys) {
      const w = this.failures.get(key);
      const limit = key.startsWith('addr:') ? this.count * ADDRESS_FACTOR : this.count;
      if (w && now - w.start < this.perMs && w.count >= limit) {
        throw new SockeyError('RATE_LIMITED', 'Too many failed logins, try again later.', { retryAfterMs: w.start + this.perMs - now });
      }
    }
  }

  fail(keys: string[], now = Date.now()): void {
    if (this.failures.size > 10_000) {
      for (const [k, w] of this.failures) if (now - w.start >= this.perMs) this.failures.delete(k);
    }
    for (const key of keys) {
      const w = this.failures.get(key);
      if (!w || now - w.start >= this.perMs) this.failures.set(key, { start: now, count: 1 });
      else w.count++;
    }
  }

  succeed(name: string): void {
    this.failures.delete(name);
  }
}

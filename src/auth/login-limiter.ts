import type { ClusterLink } from '../cluster/link.js';
import { SharedWindows } from '../cluster/limits.js';
import { addressGroup } from '../runtime/client-address.js';
import { systemClock, type Clock } from '../core/clock.js';
import { SockeyError } from '../core/errors.js';
import { FixedWindows, type Window } from '../core/windows.js';

/** One address (an IPv6 /64) may fail this many times `count`, across names: a NAT or an office shares it. */
export const ADDRESS_FACTOR = 4;
/** The name-wide delay starts at `count` failures with this, doubling per failure... */
export const NAME_DELAY_BASE_MS = 250;
/** ...up to this: a name is slowed down, never locked. */
export const NAME_DELAY_MAX_MS = 2000;
/** Windows kept at most (about 100 bytes each); past it the oldest are forgotten first. */
export const MAX_WINDOWS = 100_000;

/** A login in progress: counted as a failure unless it is settled otherwise. */
export interface LoginAttempt {
  /** The password was right: this name's failures from this address are forgotten, and the attempt is not counted. */
  succeed(): void | Promise<void>;
  /** The check could not be made (the database failed): the attempt is not counted. */
  cancel(): void | Promise<void>;
}

/**
 * Failed logins, as OWASP's authentication cheat sheet describes, in fixed
 * windows of `perMs`:
 * - per (name, address): `count` failures, then RATE_LIMITED;
 * - per address, across names: ADDRESS_FACTOR x `count`, then RATE_LIMITED;
 * - per name, from anywhere: no lockout (an attacker must not lock the owner
 *   out), but from `count` failures on every attempt for the name waits
 *   NAME_DELAY_BASE_MS, doubling, capped at NAME_DELAY_MAX_MS.
 * An attempt counts as a failure from its start, so concurrent guesses
 * cannot all pass the check before the first one fails.
 *
 * With `cluster:` (shareWith) the three counts are kept in Redis for every
 * node instead, with the same keys under `<prefix>:login:`; see SharedWindows
 * for what happens while Redis is down.
 */
export class LoginLimiter {
  private readonly windows: FixedWindows<string>;
  private shared: { pair: SharedWindows; addr: SharedWindows; name: SharedWindows } | undefined;

  constructor(
    readonly count: number,
    readonly perMs: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.windows = new FixedWindows(perMs, MAX_WINDOWS);
  }

  /** How many windows are kept (memory is bounded by MAX_WINDOWS). */
  get size(): number {
    return this.windows.size;
  }

  /** Counts in the cluster's Redis from now on (the node's link; set once, when the server starts). */
  shareWith(link: ClusterLink): void {
    this.shared = {
      pair: new SharedWindows(link, 'login:pair', this.count, this.perMs),
      addr: new SharedWindows(link, 'login:addr', this.count * ADDRESS_FACTOR, this.perMs),
      name: new SharedWindows(link, 'login:name', Number.MAX_SAFE_INTEGER, this.perMs),
    };
  }

  /** Throws RATE_LIMITED (with details.retryAfterMs) over a limit; otherwise waits the name's delay. */
  async attempt(name: string, address: string): Promise<LoginAttempt> {
    const group = addressGroup(address);
    if (this.shared) return this.sharedAttempt(this.shared, name, group);
    const now = this.clock.now();
    const pair = `pair:${group} ${name}`;
    const addr = `addr:${group}`;
    const whole = `name:${name}`;
    this.refuseOver(pair, this.count, now);
    this.refuseOver(addr, this.count * ADDRESS_FACTOR, now);
    const delay = this.delayFor(this.failures(whole, now));
    const taken = [pair, addr, whole].map((key) => [key, this.add(key, now)] as const);
    const refund = () => {
      for (const [key, w] of taken) if (this.windows.holds(key, w) && w.count > 0) w.count--;
    };
    if (delay > 0) await this.clock.wait(delay);
    return {
      succeed: () => {
        refund();
        this.windows.delete(pair);
      },
      cancel: refund,
    };
  }

  /**
   * The same steps on counts in Redis: each INCR is atomic, so parallel guesses
   * on several nodes cannot pass a limit together. A refused count is taken
   * back from the ones before it, as a refused attempt counts nowhere.
   */
  private async sharedAttempt(shared: NonNullable<LoginLimiter['shared']>, name: string, group: string): Promise<LoginAttempt> {
    const pairKey = `${group} ${name}`;
    const pair = await shared.pair.add(pairKey);
    if (!pair.allowed) throw refused(pair.msLeft);
    const addr = await shared.addr.add(group);
    if (!addr.allowed) {
      await shared.pair.refund(pairKey, pair);
      throw refused(addr.msLeft);
    }
    const whole = await shared.name.add(name);
    const delay = this.delayFor(whole.count - 1);
    if (delay > 0) await this.clock.wait(delay);
    return {
      succeed: async () => {
        await Promise.all([shared.pair.forget(pairKey), shared.addr.refund(group, addr), shared.name.refund(name, whole)]);
      },
      cancel: async () => {
        await Promise.all([shared.pair.refund(pairKey, pair), shared.addr.refund(group, addr), shared.name.refund(name, whole)]);
      },
    };
  }

  /** The name-wide delay before an attempt, for the failures the name already has. */
  delayFor(failures: number): number {
    if (failures < this.count) return 0;
    return Math.min(NAME_DELAY_MAX_MS, NAME_DELAY_BASE_MS * 2 ** Math.min(failures - this.count, 16));
  }

  private failures(key: string, now: number): number {
    return this.windows.live(key, now)?.count ?? 0;
  }

  private refuseOver(key: string, limit: number, now: number): void {
    const w = this.windows.live(key, now);
    if (w && w.count >= limit) throw refused(w.start + this.perMs - now);
  }

  private add(key: string, now: number): Window {
    const w = this.windows.open(key, now);
    w.count++;
    return w;
  }
}

function refused(retryAfterMs: number): SockeyError {
  return new SockeyError('RATE_LIMITED', 'Too many failed logins, try again later.', { retryAfterMs });
}

import type { RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import type { ClusterLink } from './link.js';

/** How long a shared count waits for Redis before this node counts the call on its own. */
export const SHARED_LIMIT_TIMEOUT_MS = 1000;

/**
 * rate-limiter-flexible's own script (SET NX with the window's expiry, INCRBY,
 * PTTL, in one EVAL: atomic), with PX and PEXPIRE instead of EX and EXPIRE.
 * The library hands Redis whole seconds; sockey's windows are milliseconds
 * (200ms, 1.5s). So the Redis limiter is built with `duration` set to the
 * window in ms, which reaches the script as ARGV[2] (the library's
 * `floor(duration * 1000 / 1000)`).
 */
const INCR_PTTL_MS = `redis.call('set', KEYS[1], 0, 'PX', ARGV[2], 'NX') \
local consumed = redis.call('incrby', KEYS[1], ARGV[1]) \
local ttl = redis.call('pttl', KEYS[1]) \
if ttl == -1 then \
  redis.call('pexpire', KEYS[1], ARGV[2]) \
  ttl = tonumber(ARGV[2]) \
end \
return {consumed, ttl} \
`;

/** One count in a window: allowed while `count` is at most the limit; `msLeft` until the window ends. */
export interface Counted {
  allowed: boolean;
  /** Events in the window, this one included. */
  count: number;
  msLeft: number;
  /** When (this node's Date.now()) the window ends: a refund after it must not touch the next one. */
  until: number;
}

/**
 * Fixed windows of `perMs` by key, counted once for the whole cluster: one
 * Redis key per window (`<prefix>:<name>:<key>`, expiring with it),
 * incremented atomically by rate-limiter-flexible's RateLimiterRedis. When
 * Redis cannot answer (down: the link has no offline queue, so at once; or
 * slower than SHARED_LIMIT_TIMEOUT_MS), the library's insurance limiter, a
 * RateLimiterMemory of this node, counts instead: each node alone, from zero,
 * until Redis answers again.
 */
export class SharedWindows {
  private readonly limiter: RLWrapperTimeouts;
  private readonly Refused: typeof RateLimiterRes;

  constructor(
    link: ClusterLink,
    name: string,
    readonly limit: number,
    perMs: number,
  ) {
    const { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } = link.rateLimiters;
    this.Refused = RateLimiterRes;
    const ms = Math.max(1, Math.ceil(perMs));
    const memory = new RateLimiterMemory({ keyPrefix: name, points: limit, duration: ms / 1000 });
    const redis = new RateLimiterRedis({
      storeClient: link.client,
      useRedisPackage: true,
      rejectIfRedisNotReady: true,
      keyPrefix: link.key(name),
      points: limit,
      duration: ms,
      customIncrTtlLuaScript: INCR_PTTL_MS,
      insuranceLimiter: memory,
    });
    this.limiter = new RLWrapperTimeouts({ limiter: redis, timeoutMs: SHARED_LIMIT_TIMEOUT_MS, insuranceLimiter: memory });
  }

  /** Counts one event for `key`. Never rejects: a failure of both stores lets the event through. */
  async add(key: string): Promise<Counted> {
    try {
      return counted(true, await this.limiter.consume(key));
    } catch (e) {
      if (e instanceof this.Refused) return counted(false, e);
      return { allowed: true, count: 0, msLeft: 0, until: 0 };
    }
  }

  /** Takes back one event counted by `add`, while its window is still the key's. */
  async refund(key: string, taken: Counted): Promise<void> {
    if (taken.count <= 0 || Date.now() >= taken.until) return;
    await this.limiter.reward(key, 1).catch(() => undefined);
  }

  /** Forgets the key's window. */
  async forget(key: string): Promise<void> {
    await this.limiter.delete(key).catch(() => undefined);
  }
}

function counted(allowed: boolean, r: RateLimiterRes): Counted {
  // A refusal always waits a little: 0 would read as "go ahead".
  const msLeft = allowed ? Math.max(0, r.msBeforeNext) : Math.max(1, r.msBeforeNext);
  return { allowed, count: r.consumedPoints, msLeft, until: Date.now() + msLeft };
}

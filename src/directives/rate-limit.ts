import type { RateLimiter } from '../core/route.js';
import { FixedWindows } from '../core/windows.js';
import { parseRateLimit } from '../manifest/settings.js';
import type { Directive } from './directive.js';

/**
 * Fixed-window counting per socket and, when signed in, per user: both
 * windows must have room. Returns the wait in ms when over the limit.
 */
export function compileRateLimit(spec: { count: number; perMs: number }): RateLimiter {
  const users = new FixedWindows<string | number>(spec.perMs);
  const limiter: RateLimiter = {
    count: spec.count,
    perMs: spec.perMs,
    take(call, now) {
      let w = call.state.windows.get(limiter);
      if (!w || now - w.start >= spec.perMs) call.state.windows.set(limiter, (w = { start: now, count: 0 }));
      const u = call.auth ? users.open(call.auth.id, now) : undefined;
      if (w.count >= spec.count) return w.start + spec.perMs - now;
      if (u && u.count >= spec.count) return u.start + spec.perMs - now;
      w.count++;
      if (u) u.count++;
      return 0;
    },
  };
  return limiter;
}

/** `rateLimit:` the route's own limit, else `server.rateLimit`. */
export const rateLimitDirective: Directive = {
  keys: ['rateLimit'],
  compile(raw, ctx, draft) {
    const limit = raw.rateLimit ? parseRateLimit(raw.rateLimit, [...ctx.at, 'rateLimit'], ctx.sink) : ctx.settings.server.rateLimit;
    if (limit) draft.rateLimit = compileRateLimit(limit);
  },
};

import type { RateLimiter } from '../core/route.js';
import { parseRateLimit } from '../manifest/settings.js';
import type { Directive } from './directive.js';

/**
 * Fixed-window counting per socket and, when signed in, per user: both
 * windows must have room. Returns the wait in ms when over the limit.
 */
export function compileRateLimit(spec: { count: number; perMs: number }): RateLimiter {
  const users = new Map<string | number, { start: number; count: number }>();
  const limiter: RateLimiter = {
    count: spec.count,
    perMs: spec.perMs,
    take(call, now) {
      let w = call.state.windows.get(limiter);
      if (!w || now - w.start >= spec.perMs) call.state.windows.set(limiter, (w = { start: now, count: 0 }));
      let u: { start: number; count: number } | undefined;
      if (call.auth) {
        u = users.get(call.auth.id);
        if (!u || now - u.start >= spec.perMs) {
          if (users.size > 10_000) sweep(users, now, spec.perMs);
          users.set(call.auth.id, (u = { start: now, count: 0 }));
        }
      }
      if (w.count >= spec.count) return w.start + spec.perMs - now;
      if (u && u.count >= spec.count) return u.start + spec.perMs - now;
      w.count++;
      if (u) u.count++;
      return 0;
    },
  };
  return limiter;
}

function sweep(map: Map<string | number, { start: number }>, now: number, perMs: number): void {
  for (const [k, w] of map) if (now - w.start >= perMs) map.delete(k);
}

/** `rateLimit:` the route's own limit, else `server.rateLimit`. */
export const rateLimitDirective: Directive = {
  keys: ['rateLimit'],
  compile(raw, ctx, draft) {
    const limit = raw.rateLimit ? parseRateLimit(raw.rateLimit, [...ctx.at, 'rateLimit'], ctx.sink) : ctx.settings.server.rateLimit;
    if (limit) draft.rateLimit = compileRateLimit(limit);
  },
};

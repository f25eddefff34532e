import type { ClusterLink } from '../cluster/link.js';
import { SharedWindows } from '../cluster/limits.js';
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

/**
 * The same limit with `cluster:`: the socket's window stays on this node (a
 * socket lives on one), the user's is counted in Redis for every node
 * (`<prefix>:limit:<event>:<user id>`), so a signed-in call answers a promise;
 * a guest's call is still answered at once. The socket's window is taken
 * before Redis answers (its parallel calls cannot all slip in) and given back
 * when the user's window refuses, as a refused call counts nowhere.
 */
export function compileSharedRateLimit(spec: { count: number; perMs: number }, link: ClusterLink, event: string): RateLimiter {
  const users = new SharedWindows(link, `limit:${event}`, spec.count, spec.perMs);
  const limiter: RateLimiter = {
    count: spec.count,
    perMs: spec.perMs,
    take(call, now) {
      const windows = call.state.windows;
      let w = windows.get(limiter);
      if (!w || now - w.start >= spec.perMs) windows.set(limiter, (w = { start: now, count: 0 }));
      if (w.count >= spec.count) return w.start + spec.perMs - now;
      w.count++;
      if (!call.auth) return 0;
      const mine = w;
      return users.add(String(call.auth.id)).then((u) => {
        if (u.allowed) return 0;
        if (windows.get(limiter) === mine && mine.count > 0) mine.count--;
        return u.msLeft;
      });
    },
  };
  return limiter;
}

/** `rateLimit:` the route's own limit, else `server.rateLimit`; shared by the cluster's nodes with `cluster:`. */
export const rateLimitDirective: Directive = {
  keys: ['rateLimit'],
  compile(raw, ctx, draft) {
    const limit = raw.rateLimit ? parseRateLimit(raw.rateLimit, [...ctx.at, 'rateLimit'], ctx.sink) : ctx.settings.server.rateLimit;
    if (limit) draft.rateLimit = ctx.cluster ? compileSharedRateLimit(limit, ctx.cluster, ctx.event) : compileRateLimit(limit);
  },
};

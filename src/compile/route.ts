import type { DirectiveContext } from '../directives/context.js';
import { compileAction } from '../directives/action.js';
import { compileEmit } from '../directives/emit.js';
import type { LoadedHook } from '../directives/hook.js';
import { compileParams } from '../directives/params.js';
import { compileRateLimit } from '../directives/rate-limit.js';
import { compileRoomTemplate } from '../directives/template.js';
import { compileTimers } from '../directives/timers.js';
import { parseDuration } from '../core/duration.js';
import type { RawRoute } from '../manifest/types.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { SharedQuery } from '../directives/hook-context.js';
import type { RateLimiter, Route } from '../core/route.js';

export interface RouteInputs {
  hooks: ReadonlyMap<string, LoadedHook>;
  query: SharedQuery;
  /** Decides whether the route changed on a reload: its entry, the settings it depends on, its hook sources. */
  fingerprint: string;
}

/** Directives in, one frozen Route out. Problems go to ctx.sink. */
export function compileRoute(event: string, raw: RawRoute, base: Omit<DirectiveContext, 'auth' | 'paramNames' | 'paramsClosed' | 'event'>, inputs: RouteInputs): { route: Route; statements: Array<{ text: string; path: ManifestPath }> } {
  const auth = raw.auth ?? 'none';
  const ctx0: DirectiveContext = { ...base, event, auth, paramNames: null, paramsClosed: false };
  const params = compileParams(raw.params, ctx0);
  const ctx: DirectiveContext = { ...ctx0, paramNames: params.names, paramsClosed: params.closed };
  const { action, kind, statements } = compileAction(raw, ctx, inputs.hooks, inputs.query);
  const emit = compileEmit(raw.emit, ctx);
  const rooms = (v: string | string[] | undefined, key: 'join' | 'leave') =>
    v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((t, i) => compileRoomTemplate(t, ctx, Array.isArray(v) ? [...ctx.at, key, i] : [...ctx.at, key]));
  const join = rooms(raw.join, 'join');
  const leave = rooms(raw.leave, 'leave');
  const timers = compileTimers(raw.timers, ctx, inputs.hooks, inputs.query);
  let rateLimit: RateLimiter | undefined;
  const limit = raw.rateLimit ? { count: raw.rateLimit.count, perMs: parseDuration(raw.rateLimit.per) } : base.settings.server.rateLimit;
  if (limit && limit.perMs === undefined) ctx.sink.error('DURATION', [...ctx.at, 'rateLimit', 'per'], `"${String(raw.rateLimit?.per)}" is not a duration`);
  else if (limit && limit.perMs! > 0) rateLimit = compileRateLimit({ count: limit.count, perMs: limit.perMs! });
  const { data, error } = base.settings.socket;
  const route: Route = {
    event,
    description: raw.description,
    builtin: base.builtin,
    auth,
    dataEvent: event + data,
    errorEvent: event + error,
    validate: params.validate,
    action,
    emit,
    join: join.map((r) => r.render),
    leave: leave.map((r) => r.render),
    roomChecks: [...join, ...leave].filter((r) => !r.readsRes).map((r) => r.render).concat(emit.room && !emit.roomReadsRes ? [emit.room] : []),
    rateLimit,
    timers,
    summary: {
      event,
      builtin: base.builtin,
      auth,
      action: kind,
      emit: emit.describe,
      params: params.summary,
      paramsSchema: raw.params ?? { type: 'object' },
      timers: timers.map((t) => `${t.kind} ${t.ms}ms -> ${t.emit.describe}`),
      rateLimit: rateLimit ? `${rateLimit.count}/${rateLimit.perMs}ms` : undefined,
      description: raw.description,
    },
    fingerprint: inputs.fingerprint,
  };
  return { route: Object.freeze(route), statements };
}

import type { Route } from '../core/route.js';
import type { DirectiveContext } from '../directives/context.js';
import type { RouteDraft } from '../directives/directive.js';
import { DIRECTIVES } from '../directives/registry.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { RawRoute } from '../manifest/types.js';

/** What every route of one compile shares. */
export type RouteBase = Omit<DirectiveContext, 'auth' | 'paramNames' | 'paramFormats' | 'paramsClosed' | 'event'>;

const NO_FORMATS: ReadonlyMap<string, string> = new Map();

/** Directives in, one frozen Route out. Problems go to the sink. */
export function compileRoute(event: string, raw: RawRoute, base: RouteBase, fingerprint: string): { route: Route; statements: Array<{ text: string; path: ManifestPath }> } {
  const ctx: DirectiveContext = { ...base, event, auth: 'none', paramNames: null, paramFormats: NO_FORMATS, paramsClosed: false };
  const draft: RouteDraft = {
    auth: 'none',
    validate: (payload) => payload as Record<string, unknown>,
    params: [],
    action: () => null,
    kind: 'reply',
    statements: [],
    emit: undefined as never,
    join: [],
    joinPresence: [],
    leave: [],
    roomChecks: [],
    timers: [],
  };
  for (const directive of DIRECTIVES) directive.compile(raw, ctx, draft);
  const { data, error } = base.settings.socket;
  const route: Route = {
    event,
    description: raw.description,
    builtin: base.builtin,
    auth: draft.auth,
    dataEvent: event + data,
    errorEvent: event + error,
    validate: draft.validate,
    action: draft.action,
    emit: draft.emit,
    join: draft.join,
    joinPresence: draft.joinPresence.some(Boolean) ? draft.joinPresence : undefined,
    leave: draft.leave,
    roomChecks: draft.roomChecks,
    rateLimit: draft.rateLimit,
    guard: draft.guard,
    timers: draft.timers,
    live: draft.live,
    summary: {
      event,
      builtin: base.builtin,
      auth: draft.auth,
      action: draft.kind,
      emit: draft.emit.describe,
      params: draft.params,
      paramsSchema: raw.params ?? { type: 'object' },
      timers: draft.timers.map((t) => `${t.kind} ${t.ms}ms -> ${t.emit.describe}`),
      rateLimit: draft.rateLimit ? `${draft.rateLimit.count}/${draft.rateLimit.perMs}ms` : undefined,
      guard: draft.guardSummary,
      expect: raw.expect,
      presence: draft.presenceSummary,
      live: draft.live?.describe,
      description: raw.description,
    },
    fingerprint,
    metrics: { meter: undefined },
  };
  return { route: Object.freeze(route), statements: draft.statements };
}

import type { Action, AuthMode, Call, EmitPlan, LivePlan, RateLimiter, Template, TimerPlan } from '../core/route.js';
import type { BoundStatement } from './sql.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { RawRoute } from '../manifest/types.js';
import type { DirectiveContext } from './context.js';

/** What the directives of one route fill in, in registry order; compile/route.ts freezes it into a Route. */
export interface RouteDraft {
  auth: AuthMode;
  validate: (payload: unknown) => Record<string, unknown>;
  params: string[];
  action: Action;
  kind: string;
  statements: Array<{ text: string; path: ManifestPath }>;
  emit: EmitPlan;
  join: Template[];
  /** Per `join` entry: joined with presence. */
  joinPresence: boolean[];
  leave: Template[];
  /** Room templates that do not read `res`, checked before the action. */
  roomChecks: Template[];
  timers: TimerPlan[];
  rateLimit?: RateLimiter;
  /** Passes (true) or refuses (false) the call, checked after the params. */
  guard?: (call: Call) => boolean | Promise<boolean>;
  /** What `sockey routes` shows of presence (rooms joined with it). */
  presenceSummary?: string[];
  /** What `sockey routes` shows of the guard. */
  guardSummary?: string;
  /** The action's statement when it is one (live queries analyse it). */
  read?: BoundStatement;
  /** The guard's statement when it is SQL. */
  guardRead?: BoundStatement;
  live?: LivePlan;
}

/**
 * One piece of a route (ajv's keywords are the model): the keys it owns, and
 * one function that checks them (problems to `ctx.sink`, located) and
 * compiles them into its part of the draft. Checking and compiling are one
 * step because both need the same parse (a template, a schema, a statement).
 * A directive may narrow `ctx` for the ones after it (auth sets `ctx.auth`,
 * params the declared names).
 */
export interface Directive {
  readonly keys: readonly (keyof RawRoute)[];
  compile(raw: RawRoute, ctx: DirectiveContext, draft: RouteDraft): void;
}

import type { Driver } from '../db/driver.js';
import type { Dialect } from '../db/named-params.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { DiagnosticSink } from '../manifest/load.js';
import type { Settings } from '../manifest/settings.js';
import type { AuthMode } from '../core/route.js';
import type { SharedQuery } from './hook-context.js';
import type { ClusterLink } from '../cluster/link.js';
import type { SqlTables } from '../db/sql-tables.js';

/** A hook module's export, loaded before compiling (compile/hook-loader.ts), or why it could not be. */
export interface LoadedHook {
  fn?: (ctx: never) => unknown;
  error?: string;
}

/** What a directive needs to check and compile its piece of one route. */
export interface DirectiveContext {
  event: string;
  /** Manifest path of the route, or of the timer inside it. */
  at: ManifestPath;
  sink: DiagnosticSink;
  settings: Settings;
  dialect: Dialect;
  /** Absent when only validating: actions that need it fail if ever run. */
  db?: Driver;
  auth: AuthMode;
  /** Top-level param names the params schema declares; null when it cannot be known. */
  paramNames: ReadonlySet<string> | null;
  /** The `format` of each top-level param that declares one (`date-time`, `date`, ...): how `:name` binds. */
  paramFormats: ReadonlyMap<string, string>;
  /** True when the params schema refuses undeclared names (additionalProperties: false): templates may read only declared ones. */
  paramsClosed: boolean;
  builtin: boolean;
  /** Hook modules loaded for this compile (by spec), and the query function behind `ctx.db`. */
  hooks: ReadonlyMap<string, LoadedHook>;
  query: SharedQuery;
  /** The node's link to the cluster's Redis, when serving with `cluster:` (shared limits, presence). */
  cluster?: ClusterLink;
  /** Set when compiling a top-level schedule: no socket and no user; templates may read `tick` and `now`. */
  schedule?: boolean;
  /** Reads SQL for the tables it uses: loaded by the compile when a route is live. */
  sqlTables?: SqlTables;
  /** Step names of the action's sql list (`as:`), set by the action for the templates compiled after it. */
  stepNames?: readonly string[];
}

export const TEMPLATE_ROOTS = ['params', 'auth', 'res', 'event', 'steps'] as const;

/** What a schedule's templates may read besides those: the tick's scheduled time (epoch ms) and the time it ran (ISO 8601). */
export const SCHEDULE_ROOTS = ['tick', 'now'] as const;

/** The manifest as written in sockey.yaml, after it passed the JSON Schema. */

export type Duration = number | string;
export type EmitTargetName = 'self' | 'broadcast' | 'all' | 'room' | 'user';
export type ResultShape = 'rows' | 'row' | 'value' | 'affected' | 'none';
import type { AuthMode } from '../core/route.js';

export type { AuthMode };

export interface RawEmit {
  to: EmitTargetName;
  room?: string;
  user?: string;
  event?: string;
  except?: 'self';
}

export interface RawRateLimit {
  count: number;
  per: Duration;
}

/** One statement of a `sql:` list, when it is named (`as`) or shaped on its own. */
export interface RawSqlStep {
  sql: string;
  as?: string;
  result?: ResultShape;
  expect?: Expectation;
}

export type Expectation = 'row' | 'rows' | 'changed';

/** What a route or a timer does. Built-in routes may give a function as their hook. */
export interface RawAction {
  sql?: string | Array<string | RawSqlStep>;
  hook?: string | HookFunctionRef;
  reply?: unknown;
  result?: ResultShape;
  expect?: Expectation;
  /** Columns parsed from JSON text in the rows sql answers. */
  json?: string[];
  emit?: EmitTargetName | RawEmit;
}

/** A hook given in code (built-in routes), not by path. */
export interface HookFunctionRef {
  builtin: string;
  fn: (ctx: never, call: never) => unknown;
}

export interface RawTimer extends RawAction {
  after?: Duration;
  every?: Duration;
}

/** A top-level `schedules:` entry: one of every/cron, an action and (optionally) an emit. */
export interface RawSchedule extends RawAction {
  description?: string;
  every?: Duration;
  cron?: string;
  /** IANA zone for `cron` (default UTC). */
  timezone?: string;
  /** With `cluster:` while Redis is down: run on every node (`local`, default) or not at all (`skip`). */
  redisDown?: 'local' | 'skip';
}

export interface RawRoute extends RawAction {
  description?: string;
  auth?: AuthMode;
  params?: Record<string, unknown> | boolean;
  join?: RawJoin | RawJoin[];
  leave?: string | string[];
  /** A room template: the route replies the room's presence members. */
  presence?: string;
  rateLimit?: RawRateLimit;
  timers?: RawTimer[];
  /** A `guards:` name, inline SQL, or a hook; after compile/entries.ts, always resolved (`RawGuard`). */
  guard?: string | RawGuard;
  /** Calling the route subscribes the caller to its result (SPEC §7). */
  live?: boolean | RawLive;
}

export interface RawLive {
  /** The param the read is keyed by (checked: it must be compared with = to a column). */
  key?: string;
  /** Also re-run every subscription this often, for writes made outside sockey. */
  poll?: Duration;
  /** Push the changed rows, keyed by this column, instead of the whole result. */
  diff?: string;
  /** The tables the read depends on, where its SQL cannot tell (replaces what sockey found). */
  tables?: string[];
}

/** A room to join: a template, or `{ room, presence }`. */
export type RawJoin = string | { room: string; presence?: boolean };

/** A guard as written under `guards:` or inline, or resolved from a name (`from`: where it is declared). */
export interface RawGuard {
  sql?: string;
  hook?: string;
  from?: string;
}

export interface RawManifest {
  version: 1;
  server?: {
    port?: number | string;
    host?: string;
    cors?: { origin?: string | boolean | string[]; credentials?: boolean };
    maxPayload?: number | string;
    static?: string;
    playground?: boolean;
    rateLimit?: RawRateLimit;
    trustProxy?: boolean | number | string | string[];
    recovery?: boolean | { maxDisconnection?: Duration };
    drainTimeout?: Duration;
    /** `GET /metrics` (Prometheus): on the app's port (true), or on a listener of its own. */
    metrics?: boolean | { port: number | string; host?: string };
  };
  cluster?: { redis: string; prefix?: string };
  database?: {
    driver?: 'sqlite' | 'mysql';
    file?: string;
    url?: string;
    pool?: number;
    schema?: string | string[];
    migrate?: boolean;
  };
  socket?: { data?: string; error?: string };
  auth?: {
    enabled?: boolean;
    event?: string;
    registerEmail?: boolean;
    tokenTimeout?: Duration;
    bcryptCost?: number;
    passwordPolicy?: { digit?: boolean; special?: boolean };
    loginRateLimit?: RawRateLimit;
    lengths?: { username?: { min?: number; max?: number }; password?: { min?: number; max?: number } };
  };
  guards?: Record<string, string | { hook: string }>;
  routes?: Record<string, RawRoute>;
  schedules?: Record<string, RawSchedule>;
}

import type { Server, Socket } from 'socket.io';
import type { Logger } from 'pino';
import type { SocketTimers } from './timers.js';
import type { RouteSummary } from './wire.js';

export type { RouteSummary } from './wire.js';

/** Who may call a route: anyone, anyone (with the user when signed in), signed-in users only. */
export type AuthMode = 'none' | 'optional' | 'required';

/** The signed-in user of a message, or null. */
export interface AuthUser {
  id: number | string;
  name: string;
}

/** One message being handled: what every compiled closure receives. */
export interface Call {
  event: string;
  params: Record<string, unknown>;
  auth: AuthUser | null;
  socket: Socket;
  state: CallState;
  io: Server;
  log: Logger;
  route: Route;
  /** What templates render over, made once per message by the first template that needs it. */
  view: Record<string, unknown> | undefined;
  /** The message's id in the logs (core/message-id.ts: `msgId`). */
  id: number;
  /** When it arrived (performance.now()), while it is measured (`server.metrics`, debug logs); else 0. */
  started: number;
}

/** What sockey keeps per connected socket (runtime's SocketState implements it). */
export interface CallState {
  readonly timers: SocketTimers;
  /** Per-route rate-limit windows of this socket. */
  readonly windows: Map<object, { start: number; count: number }>;
  /** Set by a login/register on this socket, or the handshake. */
  user: AuthUser | null;
  /** Opaque data of the auth module (token, persistence). */
  session: unknown;
  /** Settles when connection-time work (handshake authentication) is done. */
  ready: Promise<void> | undefined;
  /** The client's address, resolved once at connection (through server.trustProxy). */
  readonly address: string;
  /** Rooms joined by calls made as a signed-in user: left when that user signs out, like their timers stop. */
  readonly signedInRooms: Set<string>;
  /** What else ends when that user signs out (their live subscriptions): run once, then cleared. */
  readonly signedInEnds: Set<() => void>;
}

/** Produces the reply value (`res`) of a message. */
export type Action = (call: Call) => unknown;

export type Template = (call: Call, res?: unknown) => string;

/** A compiled `emit:` value: who receives `_data`, computed once per route. */
export interface EmitPlan {
  readonly to: 'self' | 'broadcast' | 'all' | 'room' | 'user';
  /** Sends `envelope` (of `res`) to the target on its event: one closure, chosen when compiled. */
  readonly send: (call: Call, res: unknown, envelope: unknown) => void;
  /** The room template (to: room), checked before the action when it does not read `res`. */
  readonly room?: Template;
  readonly roomReadsRes?: boolean;
  /** `emit.event` is set: the event is not the route's `<event>_data`. */
  readonly renamed: boolean;
  readonly describe: string;
}

export interface TimerPlan {
  kind: 'after' | 'every';
  ms: number;
  action: Action;
  emit: EmitPlan;
}

export interface RateLimiter {
  count: number;
  perMs: number;
  /**
   * 0 when the call may go ahead, else milliseconds until it may. A promise
   * only with `cluster:`, for a signed-in call (its user's window is in Redis).
   */
  take(call: Pick<Call, 'state' | 'auth'>, now: number): number | Promise<number>;
}

/** `table.column = value` of a live read: `value` is the keyOf form of what a call binds there. */
export interface LiveKey {
  readonly table: string;
  readonly column: string;
  readonly value: (call: Pick<Call, 'params' | 'auth'>) => string;
}

/** What a live read (or its guard) depends on: the tables it reads, and its key filters. */
export interface LiveReads {
  readonly tables: readonly string[];
  readonly keys: readonly LiveKey[];
}

/** `live:` compiled: which writes re-run the route for which subscribers. */
export interface LivePlan {
  readonly query: LiveReads;
  /** The guard's reads: a write to them re-checks the guard of the subscribers it may concern. */
  readonly guard?: LiveReads;
  /** A guard that cannot be read (a hook): checked again for a group's subscribers whenever it re-runs. */
  readonly guardEachRun: boolean;
  /** The result depends on who asks (the SQL or reply reads auth): subscribers are grouped per user too. */
  readonly byUser: boolean;
  /** `poll:`: also re-run every subscription this often (writes made outside sockey). */
  readonly pollMs?: number;
  /** `diff:`: push changed rows keyed by this column instead of the whole result. */
  readonly diff?: string;
  /** What `sockey routes` shows. */
  readonly describe: string;
}

/** What the dispatcher tells the live queries of a call of a `live:` route. */
export interface LiveHooks {
  /** Before the read runs. */
  begin(call: Call): void;
  /** After the caller got `res`. */
  answered(call: Call, res: unknown): void;
}

/** Counts a route's messages for `/metrics` (src/ops/metrics.ts). */
export interface MessageMeter {
  /** A message ended: `code` undefined when it succeeded, else its error code; `ms` since it arrived. */
  done(code: string | undefined, ms: number): void;
}

/** Where the dispatcher finds a route's meter: set at swap time while `server.metrics` is on, absent otherwise. */
export interface RouteMetrics {
  meter: MessageMeter | undefined;
}

/** A route compiled once: everything a message needs, as closures. */
export interface Route {
  readonly event: string;
  readonly description?: string;
  readonly builtin: boolean;
  readonly auth: AuthMode;
  readonly dataEvent: string;
  readonly errorEvent: string;
  /** Checks and fills defaults; throws VALIDATION. */
  readonly validate: (payload: unknown) => Record<string, unknown>;
  readonly action: Action;
  readonly emit: EmitPlan;
  readonly join: readonly Template[];
  /** Per `join` entry: joined with `presence: true` (absent when none is). */
  readonly joinPresence?: readonly boolean[];
  readonly leave: readonly Template[];
  /** Room templates that do not read `res`: rendered (and checked) before the action, so a refused room does no work. */
  readonly roomChecks: readonly Template[];
  readonly rateLimit?: RateLimiter;
  /** `guard:` checked after the params, before anything else; false answers FORBIDDEN. */
  readonly guard?: (call: Call) => boolean | Promise<boolean>;
  readonly timers: readonly TimerPlan[];
  /** `live:`: a call subscribes the caller to the result (SPEC §7). */
  readonly live?: LivePlan;
  /** What `sockey routes` prints. */
  readonly summary: RouteSummary;
  /** The route's manifest source (and of files it uses), to tell what a reload changed. */
  readonly fingerprint: string;
  /** Its meter (the one mutable part of a route). */
  readonly metrics: RouteMetrics;
}

import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import type { AuthUser } from './route.js';

/** Where `ctx.emit` sends: a target name, or a room or user target. */
export type EmitTarget = 'self' | 'broadcast' | 'all' | { to: 'room'; room: string; except?: 'self' } | { to: 'user'; user?: number | string; except?: 'self' } | { to: 'all'; except?: 'self' };

/** What a write answers: rows changed, and the id of an inserted row (or null). */
export interface WriteResult {
  affectedRows: number;
  insertId: number | string | null;
}

/** A row as the driver returns it: column name to value. */
export type Row = Record<string, unknown>;

/**
 * SQL with named parameters (`:room`, `:filter.from`, `:auth.id`), always
 * bound, never spliced into the text: `ctx.db`, and the `tx` of
 * `ctx.db.transaction`.
 */
export interface HookTransaction {
  /**
   * Runs a read and resolves to its rows.
   * (For a write it resolves to a WriteResult, as the original protocol did; prefer `execute` for writes.)
   * @example const rows = await ctx.db.query<{ id: number }>('SELECT id FROM messages WHERE room = :room', { room });
   */
  query<T = Row>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /**
   * Runs a write (INSERT, UPDATE, DELETE) and resolves to `{ affectedRows, insertId }`.
   * @example const { insertId } = await ctx.db.execute('INSERT INTO notes (body) VALUES (:body)', { body });
   */
  execute(sql: string, params?: Record<string, unknown>): Promise<WriteResult>;
}

/** `ctx.db`: statements one by one, or several in one transaction. */
export interface HookDb extends HookTransaction {
  /**
   * Runs `fn` in one transaction: committed when it resolves (its value is
   * what this resolves to), rolled back when it throws (the error goes on).
   * Use `tx` inside it: `ctx.db` throws until the transaction ends, and
   * transactions do not nest. A transaction open for more than 10 s is
   * rolled back (on SQLite every other statement waits while one is open).
   * @example const id = await ctx.db.transaction(async (tx) => {
   *   const { insertId } = await tx.execute('INSERT INTO cards (title) VALUES (:title)', ctx.params);
   *   await tx.execute('INSERT INTO activity (card_id, user_id) VALUES (:id, :auth.id)', { id: insertId });
   *   return insertId;
   * });
   */
  transaction<T>(fn: (tx: HookTransaction) => T | Promise<T>): Promise<T>;
}

/** Timers owned by the caller's socket: cleared when it disconnects, when the route changes on reload, and on sign-out when started by a signed-in call. */
export interface HookTimers {
  /** Runs `fn` once after `ms` milliseconds. */
  after(ms: number, fn: () => unknown): NodeJS.Timeout | undefined;
  /** Runs `fn` every `ms` milliseconds. */
  every(ms: number, fn: () => unknown): NodeJS.Timeout | undefined;
  /** Stops a timer this context started. */
  clear(timer: NodeJS.Timeout | undefined): void;
}

/**
 * What a hook receives. `Auth` is `AuthUser` on an `auth: required` route,
 * where sockey guarantees a signed-in user (see `SignedInHookContext`).
 *
 * @example
 * import type { HookContext } from 'sockey';
 * export async function stats(ctx: HookContext<{ room: string }>) {
 *   const rows = await ctx.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM messages WHERE room = :room', ctx.params);
 *   return { messages: rows[0]?.n ?? 0 };
 * }
 */
export interface HookContext<P = Record<string, unknown>, Auth extends AuthUser | null = AuthUser | null> {
  /** The event name that invoked the route. */
  readonly event: string;
  /** The payload, validated against the route's params schema, defaults applied. */
  readonly params: P;
  /** The signed-in user (`{ id, name }`), or null on a route with `auth: none | optional`. */
  readonly auth: Auth;
  /** The database, with bound named parameters. */
  readonly db: HookDb;
  /** Sends `{ ok: true, err: false, res: payload }` on `event` (default: the route's `_data` event). Throws FORBIDDEN for a reserved room. */
  emit(target: EmitTarget, payload: unknown, event?: string): void;
  /** Joins the caller to an app room. A room of sockey's own (`sockey:...`) or a socket id throws FORBIDDEN at once, awaited or not. */
  join(room: string): Promise<void>;
  /** Leaves an app room (the same rooms are refused as for join). */
  leave(room: string): Promise<void>;
  /** The caller's socket.io socket. */
  readonly socket: Socket;
  /** The client's address: the socket's peer, or from X-Forwarded-For through `server.trustProxy`. */
  readonly address: string;
  /** Timers owned by the caller's socket. */
  readonly timers: HookTimers;
  /** The server's logger (pino) with the message's id in every line (`msgId`): secrets in fields named password, token, key or url are redacted. */
  readonly log: Logger;
}

/** The context of a hook on an `auth: required` route: `ctx.auth` is never null. */
export type SignedInHookContext<P = Record<string, unknown>> = HookContext<P, AuthUser>;

/** A hook: what it returns is the reply's `res`; a thrown SockeyError keeps its code, anything else is INTERNAL. */
export type Hook<P = Record<string, unknown>, R = unknown, Auth extends AuthUser | null = AuthUser | null> = (ctx: HookContext<P, Auth>) => R | Promise<R>;

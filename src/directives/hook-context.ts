import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import type { AuthUser, Call } from '../core/route.js';
import { toSqlValue, type Driver } from '../db/driver.js';
import { rewriteNamedParams } from '../db/named-params.js';
import { deliver, type Target } from './deliver.js';
import { dataEnvelope } from '../core/envelope.js';
import { SockeyError } from '../core/errors.js';
import { checkAppRoom } from '../core/rooms.js';

/** Where `ctx.emit` sends: a target name, or a room or user target. */
export type EmitTarget =
  | 'self'
  | 'broadcast'
  | 'all'
  | { to: 'room'; room: string; except?: 'self' }
  | { to: 'user'; user?: number | string; except?: 'self' }
  | { to: 'all'; except?: 'self' };

export interface WriteResult {
  affectedRows: number;
  insertId: number | string | null;
}

/** `ctx.db`: named parameters, always bound, never spliced. */
export interface HookDb {
  /**
   * Runs one statement. Reads resolve to rows, writes to `{ affectedRows, insertId }`.
   * @example const rows = await ctx.db.query('SELECT * FROM messages WHERE room = :room', { room });
   */
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[] | WriteResult>;
}

/** Timers owned by the socket: cleared when it disconnects. */
export interface HookTimers {
  after(ms: number, fn: () => unknown): NodeJS.Timeout;
  every(ms: number, fn: () => unknown): NodeJS.Timeout;
  clear(timer: NodeJS.Timeout): void;
}

/**
 * What a hook receives.
 *
 * @example
 * import type { HookContext } from 'sockey';
 * export async function stats(ctx: HookContext<{ room: string }>) {
 *   const rows = await ctx.db.query('SELECT COUNT(*) AS n FROM messages WHERE room = :room', ctx.params);
 *   return rows;
 * }
 */
export interface HookContext<P = Record<string, unknown>> {
  /** The event name that invoked the route. */
  event: string;
  /** The payload, validated against the route's params schema, defaults applied. */
  params: P;
  /** The signed-in user, or null. */
  auth: AuthUser | null;
  db: HookDb;
  /** Sends `{ ok: true, err: false, res: payload }` on `event` (default: the route's `_data` event). */
  emit(target: EmitTarget, payload: unknown, event?: string): void;
  /** Joins the caller to an app room; throws FORBIDDEN for sockey's own rooms ("sockey:...") and socket ids. */
  join(room: string): void;
  /** Leaves an app room (the same rooms are refused as for join). */
  leave(room: string): void;
  /** The caller's socket.io socket. */
  socket: Socket;
  /** The client's address: the socket's peer, or from X-Forwarded-For through `server.trustProxy`. */
  address: string;
  timers: HookTimers;
  log: Logger;
}

/** A hook: what it returns is the reply's `res`; a thrown SockeyError keeps its code. */
export type Hook<P = Record<string, unknown>, R = unknown> = (ctx: HookContext<P>) => R | Promise<R>;

export type SharedQuery = (sql: string, params: Record<string, unknown> | undefined, auth: AuthUser | null) => Promise<never>;

/** The query function behind `ctx.db`, one per driver; each distinct SQL text is rewritten once. */
export function createHookQuery(db: Driver | undefined): SharedQuery {
  const cache = new Map<string, { text: string; names: string[][] }>();
  return async (sql, params = {}, auth) => {
      if (!db) throw new SockeyError('DB_ERROR', 'Database error.');
      let compiled = cache.get(sql);
      if (!compiled) {
        const rewritten = rewriteNamedParams(sql, db.dialect);
        compiled = { text: rewritten.text, names: rewritten.params.map((p) => p.name.split('.')) };
        if (cache.size < 1000) cache.set(sql, compiled);
      }
      const values = compiled.names.map((keys) => {
        let v: unknown = keys[0] === 'auth' && !('auth' in params) ? { auth } : params;
        for (const k of keys) v = v === null || v === undefined ? undefined : (v as Record<string, unknown>)[k];
        return toSqlValue(v);
      });
      const r = await db.run(compiled.text, values);
      return (r.rows ?? { affectedRows: r.affectedRows, insertId: r.insertId }) as never;
  };
}

export function createHookContext(call: Call, query: SharedQuery): HookContext {
  const { socket, state, route } = call;
  const timerKey = `hook:${route.event}`;
  return {
    event: call.event,
    params: call.params,
    auth: call.auth,
    db: { query: (sql, params) => query(sql, params, call.auth) },
    socket,
    address: state.address,
    log: call.log,
    emit(target, payload, event) {
      const t: Target = typeof target === 'string' ? { to: target, exceptSelf: false } : { to: target.to, exceptSelf: target.except === 'self', room: 'room' in target ? checkAppRoom(target.room, call.io) : undefined, user: 'user' in target ? target.user : undefined };
      deliver(call, t, event ?? route.dataEvent, dataEnvelope(payload));
    },
    join(room) {
      void socket.join(checkAppRoom(room, call.io));
    },
    leave(room) {
      void socket.leave(checkAppRoom(room, call.io));
    },
    timers: {
      after(ms, fn) {
        const t: NodeJS.Timeout = setTimeout(() => {
          state.timers.remove(timerKey, t);
          runSafely(call, fn);
        }, ms);
        state.timers.add(timerKey, t, call.auth !== null);
        return t;
      },
      every(ms, fn) {
        const t = setInterval(() => runSafely(call, fn), Math.max(ms, 1));
        state.timers.add(timerKey, t, call.auth !== null);
        return t;
      },
      clear(t) {
        state.timers.remove(timerKey, t);
      },
    },
  };
}

function runSafely(call: Call, fn: () => unknown): void {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch((e) => call.log.error({ event: call.event, err: (e as Error).message }, 'hook timer failed'));
  } catch (e) {
    call.log.error({ event: call.event, err: (e as Error).message }, 'hook timer failed');
  }
}

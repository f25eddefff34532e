import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import { dataEnvelope } from '../core/envelope.js';
import { SockeyError } from '../core/errors.js';
import type { EmitTarget, HookContext, HookDb, HookTimers, HookTransaction, Row, WriteResult } from '../core/hook.js';
import { formatMessageId } from '../core/message-id.js';
import { valueAt } from '../core/path.js';
import { logRepeated } from '../core/repeats.js';
import { checkAppRoom, joinRoom, leaveRoom } from '../core/rooms.js';
import type { AuthUser, Call } from '../core/route.js';
import { toSqlValue, type Driver, type DriverTransaction, type QueryResult } from '../db/driver.js';
import { rewriteNamedParams } from '../db/named-params.js';
import { deliver, type Target } from './deliver.js';

/**
 * Runs one statement with named parameters for hooks (inside `tx` when given);
 * one per driver, each distinct SQL text rewritten once. `begin` opens a
 * transaction for `ctx.db.transaction`.
 */
export interface SharedQuery {
  (sql: string, params: Record<string, unknown> | undefined, auth: AuthUser | null, tx?: DriverTransaction): Promise<QueryResult>;
  begin(): Promise<DriverTransaction>;
}

export function createHookQuery(db: Driver | undefined): SharedQuery {
  const cache = new Map<string, { text: string; names: string[][] }>();
  const query = async (sql: string, params: Record<string, unknown> = {}, auth: AuthUser | null, tx?: DriverTransaction) => {
    if (!db) throw new SockeyError('DB_ERROR');
    let compiled = cache.get(sql);
    if (!compiled) {
      const rewritten = rewriteNamedParams(sql, db.dialect);
      compiled = { text: rewritten.text, names: rewritten.params.map((p) => p.name.split('.')) };
      if (cache.size < 1000) cache.set(sql, compiled);
    }
    const values = compiled.names.map((keys) => toSqlValue(valueAt(keys[0] === 'auth' && !('auth' in params) ? { auth } : params, keys)));
    return tx ? tx.run(compiled.text, values) : db.run(compiled.text, values);
  };
  return Object.assign(query, { begin: () => (db ? db.begin() : Promise.reject(new SockeyError('DB_ERROR'))) });
}

const writeResult = (r: QueryResult): WriteResult => ({ affectedRows: r.affectedRows, insertId: r.insertId });

/**
 * The context of one hook call. Its members live on the prototype, so a call
 * costs one object (plus `db` or `timers` when the hook reads them), not a
 * closure per member.
 */
export class HookCallContext implements HookContext {
  private dbView?: HookDb;
  private timerView?: HookTimers;
  private logView?: Logger;

  constructor(
    private readonly call: Call,
    private readonly query: SharedQuery,
  ) {}

  get event(): string {
    return this.call.event;
  }
  get params(): Record<string, unknown> {
    return this.call.params;
  }
  get auth(): AuthUser | null {
    return this.call.auth;
  }
  get socket(): Socket {
    return this.call.socket;
  }
  get address(): string {
    return this.call.state.address;
  }
  /** The server's logger with this message's id (`msgId`): a pino child, made only for a hook that reads it. */
  get log(): Logger {
    return (this.logView ??= this.call.log.child({ msgId: formatMessageId(this.call.id) }));
  }

  get db(): HookDb {
    if (!this.dbView) {
      const { query, call } = this;
      // While this hook's transaction is open, ctx.db refuses: on SQLite it would wait for the transaction to end.
      let open = false;
      const outside = () => {
        if (open) throw new Error('ctx.db is not usable inside ctx.db.transaction: use the tx it gives (transactions do not nest)');
      };
      const view = (tx?: DriverTransaction): HookTransaction => ({
        // Reads answer rows; a write answers its WriteResult (SPEC §2 keeps that for query).
        query: async <T = Row>(sql: string, params?: Record<string, unknown>) => {
          if (!tx) outside();
          const r = await query(sql, params, call.auth, tx);
          return (r.rows ?? writeResult(r)) as T[];
        },
        execute: async (sql, params) => {
          if (!tx) outside();
          return writeResult(await query(sql, params, call.auth, tx));
        },
      });
      this.dbView = {
        ...view(),
        transaction: async <T>(fn: (tx: HookTransaction) => T | Promise<T>): Promise<T> => {
          outside();
          open = true;
          let tx: DriverTransaction;
          try {
            tx = await query.begin();
          } catch (e) {
            open = false;
            throw e;
          }
          try {
            const value = await fn(view(tx));
            await tx.commit();
            return value;
          } catch (e) {
            await tx.rollback().catch(() => undefined);
            throw e;
          } finally {
            open = false;
          }
        },
      };
    }
    return this.dbView;
  }

  get timers(): HookTimers {
    if (!this.timerView) {
      const { call } = this;
      const key = `hook:${call.route.event}`;
      const asUser = call.auth !== null;
      const timers = call.state.timers;
      this.timerView = {
        after: (ms, fn) => timers.after(key, ms, () => runSafely(call, fn), asUser),
        every: (ms, fn) => timers.every(key, ms, () => runSafely(call, fn), asUser),
        clear: (t) => {
          if (t) timers.remove(key, t);
        },
      };
    }
    return this.timerView;
  }

  emit(target: EmitTarget, payload: unknown, event?: string): void {
    const { call } = this;
    const t: Target =
      typeof target === 'string'
        ? { to: target, exceptSelf: false }
        : { to: target.to, exceptSelf: target.except === 'self', room: 'room' in target ? checkAppRoom(target.room, call.io) : undefined, user: 'user' in target ? target.user : undefined };
    deliver(call, t, event ?? call.route.dataEvent, dataEnvelope(payload));
  }

  // A reserved room throws at once, so a hook that does not await still fails (and joins nothing).
  join(room: string): Promise<void> {
    return Promise.resolve(joinRoom(this.call, checkAppRoom(room, this.call.io)));
  }

  leave(room: string): Promise<void> {
    return Promise.resolve(leaveRoom(this.call, checkAppRoom(room, this.call.io)));
  }
}

function runSafely(call: Call, fn: () => unknown): void {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch((e) => timerFailed(call, e));
  } catch (e) {
    timerFailed(call, e);
  }
}

function timerFailed(call: Call, e: unknown): void {
  const err = (e as Error)?.message;
  logRepeated(call.log, 'error', { event: call.event, err, msgId: formatMessageId(call.id) }, 'hook timer failed', [call.event, err]);
}

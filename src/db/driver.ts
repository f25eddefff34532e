import { SockeyError } from '../core/errors.js';
import { sqlDateTimeOf, toSqlDateTime } from './dates.js';
import type { Dialect } from './named-params.js';

export type SqlValue = string | number | bigint | Buffer | null;

/** Rows for a read, counts for a write. */
export interface QueryResult {
  rows?: Record<string, unknown>[];
  affectedRows: number;
  insertId: number | string | null;
}

/** One statement of a transaction: its values may be computed from the results of the steps before it. */
export interface SqlStep {
  /** SQL with `?` placeholders. */
  text: string;
  values: (done: readonly QueryResult[]) => SqlValue[];
  /** Sees the step's result before the next step; a throw rolls the transaction back. */
  check?: (result: QueryResult) => void;
}

/**
 * A transaction held open across awaits (a hook's `ctx.db.transaction`).
 * After commit or rollback (or the timeout) every call fails with DB_ERROR,
 * except rollback, which does nothing then.
 */
export interface DriverTransaction {
  run(text: string, values: SqlValue[]): Promise<QueryResult>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** How long a transaction from `begin()` may stay open before the driver rolls it back. */
export const TRANSACTION_TIMEOUT_MS = 10_000;

/** One small interface over the two databases sockey speaks to. */
export interface Driver {
  readonly dialect: Dialect;
  /** For logs: never includes a password. */
  readonly description: string;
  /** `firstRow`: only the first row is wanted (`result: row | value`); a driver may stop reading there. */
  run(text: string, values: SqlValue[], firstRow?: boolean): QueryResult | Promise<QueryResult>;
  /** All steps in one transaction, in order; every step's result. A failing step or check rolls it all back. */
  transaction(steps: readonly SqlStep[]): QueryResult[] | Promise<QueryResult[]>;
  /**
   * Opens a transaction that stays open across awaits, on a connection of its own
   * (SQLite: the one connection, so every other statement waits until it ends).
   * Rolled back by the driver when still open after its timeout.
   */
  begin(): Promise<DriverTransaction>;
  /** A script of several statements (schema files). */
  exec(script: string): Promise<void>;
  /** Prepares a statement without running it, so typos are caught before deploy. */
  check(text: string): Promise<void>;
  /** `SELECT 1` on a connection of the pool (MySQL) or the handle (SQLite, not waiting for a transaction): rejects when the database does not answer. */
  ping(): Promise<void>;
  /** Connections in use and what waits for one, for /metrics. */
  usage(): PoolUsage;
  close(): Promise<void>;
}

/**
 * MySQL: connections handed out (or opening) and calls queued for one.
 * SQLite: 1 while a transaction from `begin()` holds the connection, and the
 * statements waiting for it to end.
 */
export interface PoolUsage {
  inUse: number;
  waiting: number;
}

/** Values as the drivers bind them: no undefined, no booleans, Dates as UTC `YYYY-MM-DD HH:MM:SS[.fff]`, objects as JSON. */
export function toSqlValue(v: unknown): SqlValue {
  if (v === undefined || v === null) return null;
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
      return v;
    case 'boolean':
      return v ? 1 : 0;
    default:
      if (Buffer.isBuffer(v)) return v;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : sqlDateTimeOf(v);
      return JSON.stringify(v);
  }
}

/**
 * How a param of this JSON Schema `format` binds, decided at compile time;
 * undefined: as toSqlValue does. `date-time` binds as UTC SQL text (a MariaDB
 * DATETIME refuses `...T07:39:34.000Z` in strict mode). `date` is already
 * `YYYY-MM-DD` once validated, which both databases take as it is.
 */
export function bindingFor(format: string | undefined): ((v: unknown) => SqlValue) | undefined {
  return format === 'date-time' ? (v) => toSqlValue(toSqlDateTime(v)) : undefined;
}

/**
 * The error a client sees for any database failure: no SQL text, no driver
 * message. The driver's error stays in `cause` for the server log.
 */
export function dbError(cause: unknown): SockeyError {
  const raw = (cause as { code?: unknown })?.code;
  const code = typeof raw === 'string' ? raw : '';
  const constraint = /CONSTRAINT|DUP_ENTRY|ER_NO_REFERENCED_ROW|ER_ROW_IS_REFERENCED/.test(code);
  const e = new SockeyError('DB_ERROR', constraint ? 'Database error: a constraint was violated.' : 'Database error.', constraint ? { reason: 'constraint' } : undefined);
  (e as { cause?: unknown }).cause = cause;
  return e;
}

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { isSockeyError } from '../core/errors.js';
import { isoDateTime } from './dates.js';
import { dbError, TRANSACTION_TIMEOUT_MS, type Driver, type DriverTransaction, type PoolUsage, type QueryResult, type SqlStep, type SqlValue } from './driver.js';

type Statement = Database.Statement<unknown[]>;
type Row = Record<string, unknown>;

/** A cached statement, and what its rows need to read as MariaDB's do (none for most: the hot path). */
interface Prepared {
  s: Statement;
  shape?: (row: Row) => void;
  /** An INSERT or REPLACE (after any WITH): the only statements whose lastInsertRowid is their own. */
  inserts: boolean;
}

const INSERTS = /^\s*(?:WITH\b[\s\S]*?\)\s*)?(?:INSERT|REPLACE)\b/i;

/**
 * Embedded SQLite through better-sqlite3: synchronous, statements prepared
 * once and cached. While a transaction from `begin()` is open (a hook's
 * `ctx.db.transaction`, which awaits between its statements), every other
 * statement waits in `waiting`, in order, and `run` answers a promise; else
 * `run` stays synchronous.
 */
export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Prepared>();
  /** The open transaction from `begin()`, if any. */
  private held: { end(sql: 'COMMIT' | 'ROLLBACK', why?: string): void } | null = null;
  /** What waits for it to end, first come first served. */
  private readonly waiting: Array<() => void> = [];
  private readonly transactionTimeoutMs: number;

  constructor(file: string | Buffer, options: { readonly?: boolean; transactionTimeoutMs?: number } = {}) {
    const onDisk = typeof file === 'string' && file !== ':memory:';
    if (onDisk && !options.readonly) mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (onDisk && !options.readonly) this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.description = typeof file === 'string' ? `sqlite ${file}` : 'sqlite (in-memory copy)';
    this.transactionTimeoutMs = options.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS;
  }

  /**
   * An in-memory copy of a database file, read through a read-only handle
   * (`validate --db` applies schema files and prepares statements there, so
   * the file is never written), or an empty one when there is no file.
   */
  static copyOf(file: string): SqliteDriver {
    if (file === ':memory:' || !existsSync(file)) return new SqliteDriver(':memory:');
    const source = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return new SqliteDriver(source.serialize());
    } finally {
      source.close();
    }
  }

  private statement(text: string): Prepared {
    let p = this.statements.get(text);
    if (!p) {
      const s = this.db.prepare(text);
      p = { s, shape: s.reader ? rowShaper(s) : undefined, inserts: INSERTS.test(text) };
      this.statements.set(text, p);
    }
    return p;
  }

  private runSync(text: string, values: SqlValue[], firstRow = false): QueryResult {
    const { s, shape, inserts } = this.statement(text);
    if (s.reader) {
      if (firstRow) {
        const row = s.get(...values) as Row | undefined;
        if (row === undefined) return { rows: [], affectedRows: 0, insertId: null };
        shape?.(row);
        return { rows: [row], affectedRows: 0, insertId: null };
      }
      const rows = s.all(...values) as Row[];
      if (shape) for (let i = 0; i < rows.length; i++) shape(rows[i]!);
      return { rows, affectedRows: 0, insertId: null };
    }
    const info = s.run(...values);
    // lastInsertRowid is the connection's last insert, anyone's: only an INSERT that inserted a row has an id.
    return { affectedRows: info.changes, insertId: info.changes > 0 && inserts ? toId(info.lastInsertRowid) : null };
  }

  /** Synchronous, unless a transaction from `begin()` is open: then it waits for it to end. */
  run(text: string, values: SqlValue[], firstRow?: boolean): QueryResult | Promise<QueryResult> {
    if (this.held !== null) return this.later(() => this.run(text, values, firstRow));
    try {
      return this.runSync(text, values, firstRow);
    } catch (e) {
      throw dbError(e);
    }
  }

  transaction(steps: readonly SqlStep[]): QueryResult[] | Promise<QueryResult[]> {
    if (this.held !== null) return this.later(() => this.transaction(steps));
    try {
      return this.db.transaction(() => {
        const done: QueryResult[] = [];
        for (const step of steps) {
          const r = this.runSync(step.text, step.values(done));
          step.check?.(r);
          done.push(r);
        }
        return done;
      })();
    } catch (e) {
      // An unmet expectation (a SockeyError from a check) is the caller's answer, not a database failure.
      throw isSockeyError(e) ? e : dbError(e);
    }
  }

  /**
   * BEGIN on the one connection, once no other such transaction is open. Until
   * it commits, rolls back or times out, every other statement waits.
   */
  begin(): Promise<DriverTransaction> {
    if (this.held !== null) return this.later(() => this.begin());
    try {
      return Promise.resolve(this.open());
    } catch (e) {
      return Promise.reject(dbError(e));
    }
  }

  private open(): DriverTransaction {
    this.db.exec('BEGIN');
    let ended: string | null = null;
    const end = (sql: 'COMMIT' | 'ROLLBACK', why = sql === 'COMMIT' ? 'committed' : 'rolled back') => {
      if (ended !== null) return;
      ended = why;
      clearTimeout(timer);
      try {
        if (this.db.open && this.db.inTransaction) this.db.exec(sql);
      } catch (e) {
        // A failed COMMIT leaves the transaction open: roll it back before anything else runs.
        ended = 'rolled back (its commit failed)';
        if (this.db.open && this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      } finally {
        this.held = null;
        this.pump();
      }
    };
    // Left open too long (a hook that never finishes), it is rolled back so the others can go on.
    const timer = setTimeout(() => {
      try {
        end('ROLLBACK', `rolled back after ${this.transactionTimeoutMs} ms`);
      } catch {
        // Rolled back by SQLite already.
      }
    }, this.transactionTimeoutMs);
    timer.unref();
    this.held = { end };
    const closed = () => Promise.reject(dbError(new Error(`the transaction was already ${ended}`)));
    return {
      run: (text, values) => {
        if (ended !== null) return closed();
        try {
          return Promise.resolve(this.runSync(text, values));
        } catch (e) {
          return Promise.reject(dbError(e));
        }
      },
      commit: () => {
        if (ended !== null) return closed();
        try {
          end('COMMIT');
          return Promise.resolve();
        } catch (e) {
          return Promise.reject(dbError(e));
        }
      },
      rollback: () => {
        try {
          end('ROLLBACK');
        } catch {
          // SQLite has already rolled it back on its own (or the handle is closed).
        }
        return Promise.resolve();
      },
    };
  }

  /** Runs `fn` once the open transaction has ended (and those queued before it have run). */
  private later<T>(fn: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Runs what waited, in order, until one of them opens the next transaction. */
  private pump(): void {
    while (this.held === null && this.waiting.length) this.waiting.shift()!();
  }

  async exec(script: string): Promise<void> {
    if (this.held !== null) return this.later(() => this.exec(script));
    this.db.exec(script);
    // A schema script may change a column's declared type: statements (and their row shapes) are prepared again.
    this.statements.clear();
  }

  async check(text: string): Promise<void> {
    this.db.prepare(text);
  }

  async ping(): Promise<void> {
    // On the handle, not through `run`: a transaction that holds the connection is not an outage.
    if (!this.db.open) throw new Error('the database is closed');
    this.db.prepare('SELECT 1').get();
  }

  usage(): PoolUsage {
    return { inUse: this.held === null ? 0 : 1, waiting: this.waiting.length };
  }

  async close(): Promise<void> {
    // An open transaction is rolled back, and what waited for it runs before the handle closes.
    while (this.held !== null) {
      try {
        this.held.end('ROLLBACK', 'rolled back: the database was closed');
      } catch {
        // Closing anyway.
      }
    }
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

function toId(id: number | bigint): number | string {
  return typeof id === 'bigint' ? (id <= MAX_SAFE ? Number(id) : id.toString()) : id;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const DATE_PREFIX = /^\d{4}-\d{2}-\d{2}(?:[Tt ]|$)/;

/**
 * What a statement's rows need so they read as mysql2 reads MariaDB's,
 * decided once from the declared types of its result columns (a column
 * taken from a table keeps its declared type; an expression has none and
 * is left as SQLite computes it):
 * - DATETIME / TIMESTAMP text becomes ISO 8601 UTC (text without an offset
 *   is UTC, as CURRENT_TIMESTAMP writes it); text that does not parse stays.
 * - DATE text becomes its `YYYY-MM-DD`.
 * - A statement reading a BIGINT column reads integers exactly: numbers
 *   within ±2^53, decimal strings beyond (mysql2's supportBigNumbers).
 * Undefined when no column needs anything: rows are then passed on untouched.
 */
function rowShaper(s: Statement): ((row: Row) => void) | undefined {
  const dateTimes: string[] = [];
  const dates: string[] = [];
  let big = false;
  for (const c of s.columns()) {
    const type = c.type?.toUpperCase().trim() ?? '';
    if (type.startsWith('DATETIME') || type.startsWith('TIMESTAMP')) dateTimes.push(c.name);
    else if (/^DATE\b/.test(type)) dates.push(c.name);
    else if (/BIGINT|BIG INT|INT8/.test(type)) big = true;
  }
  if (!dateTimes.length && !dates.length && !big) return undefined;
  if (big) s.safeIntegers(true);
  return (row) => {
    if (big) {
      for (const k in row) {
        const v = row[k];
        if (typeof v === 'bigint') row[k] = v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
      }
    }
    for (const k of dateTimes) {
      const v = row[k];
      if (typeof v !== 'string') continue;
      const iso = isoDateTime(v);
      if (iso !== undefined) row[k] = iso;
    }
    for (const k of dates) {
      const v = row[k];
      if (typeof v === 'string' && v.length > 10 && DATE_PREFIX.test(v)) row[k] = v.slice(0, 10);
    }
  };
}

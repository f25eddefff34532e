import mysql from 'mysql2/promise';
import { isSockeyError } from '../core/errors.js';
import { isoOfDate } from './dates.js';
import { dbError, TRANSACTION_TIMEOUT_MS, type Driver, type DriverTransaction, type PoolUsage, type QueryResult, type SqlStep, type SqlValue } from './driver.js';

interface CallbackPool {
  execute(sql: string, values: SqlValue[], cb: (err: Error | null, result: unknown, fields?: readonly mysql.FieldPacket[]) => void): void;
  on(event: 'connection', listener: (conn: { query(sql: string, cb: (err: Error | null) => void): void }) => void): void;
  /** mysql2's own queues (lib/base/pool.js): every connection, the idle ones, and the calls waiting for one. */
  _allConnections?: { length: number };
  _freeConnections?: { length: number };
  _connectionQueue?: { length: number };
}

/**
 * How every connection reads values, so that both drivers answer the same
 * JSON (README, "One answer on both drivers"): DATETIME and TIMESTAMP in UTC
 * (the session's time_zone is set to match, see below), DATE as its text,
 * JSON as text (parsed only for `json:` columns), DECIMAL as a number,
 * BIGINT as a number within ±2^53 and a decimal string beyond.
 */
const MYSQL_TYPE_OPTIONS = { timezone: 'Z', dateStrings: ['DATE'], jsonStrings: true, decimalNumbers: true, supportBigNumbers: true, bigNumberStrings: false } satisfies mysql.PoolOptions;
const UTC_SESSION = "SET time_zone = '+00:00'";
/** How long the readiness check's connection may take to open. */
const PING_CONNECT_TIMEOUT_MS = 1000;

/** Column types mysql2 answers as Date objects (TIMESTAMP, DATETIME and their v2 forms). */
const DATE_TYPES = new Set([7, 12, 17, 18]);

/** MySQL/MariaDB through a mysql2 pool; every statement runs as a server-side prepared statement. */
export class MysqlDriver implements Driver {
  readonly dialect = 'mysql' as const;
  readonly description: string;
  private readonly pool: mysql.Pool;
  /** The same pool's callback API: one promise per statement instead of three (the hot path). */
  private readonly raw: CallbackPool;
  /** The readiness check's own connection (see ping). */
  private pinger: Promise<mysql.Connection> | undefined;

  constructor(
    private readonly url: string,
    poolSize: number,
    private readonly transactionTimeoutMs = TRANSACTION_TIMEOUT_MS,
  ) {
    // trace: false: no stack captured per query (errors become DB_ERROR; only their message is logged).
    this.pool = mysql.createPool({ uri: url, connectionLimit: poolSize, waitForConnections: true, maxIdle: poolSize, enableKeepAlive: true, trace: false, ...MYSQL_TYPE_OPTIONS });
    this.raw = (this.pool as unknown as { pool: CallbackPool }).pool;
    // UTC sessions: NOW() and CURRENT_TIMESTAMP in UTC, TIMESTAMP columns read in UTC. Queued on a
    // new connection before the pool hands it out, so it runs before anything else there.
    this.raw.on('connection', (conn) => conn.query(UTC_SESSION, () => undefined));
    this.description = `mysql ${redact(url)}`;
  }

  run(text: string, values: SqlValue[]): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      this.raw.execute(text, values, (err, result, fields) => (err ? reject(dbError(err)) : resolve(toResult(result, fields))));
    });
  }

  async transaction(steps: readonly SqlStep[]): Promise<QueryResult[]> {
    let conn: mysql.PoolConnection | undefined;
    try {
      conn = await this.pool.getConnection();
      await conn.beginTransaction();
      const done: QueryResult[] = [];
      for (const step of steps) {
        const [result, fields] = await conn.execute(step.text, step.values(done));
        const r = toResult(result, fields);
        step.check?.(r);
        done.push(r);
      }
      await conn.commit();
      return done;
    } catch (e) {
      if (conn) await conn.rollback().catch(() => undefined);
      throw isSockeyError(e) ? e : dbError(e);
    } finally {
      conn?.release();
    }
  }

  /**
   * A pool connection held until commit or rollback. Left open longer than
   * the timeout, it is rolled back and released; its later statements fail.
   */
  async begin(): Promise<DriverTransaction> {
    let conn: mysql.PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (e) {
      throw dbError(e);
    }
    try {
      await conn.beginTransaction();
    } catch (e) {
      conn.release();
      throw dbError(e);
    }
    let ended: string | null = null;
    const end = async (how: 'commit' | 'rollback', why: string) => {
      ended = why;
      clearTimeout(timer);
      try {
        if (how === 'commit') {
          try {
            await conn.commit();
          } catch (e) {
            await conn.rollback().catch(() => undefined);
            throw dbError(e);
          }
        } else await conn.rollback().catch(() => undefined);
      } finally {
        conn.release();
      }
    };
    const timer = setTimeout(() => void end('rollback', `rolled back after ${this.transactionTimeoutMs} ms`), this.transactionTimeoutMs);
    timer.unref();
    const closed = () => Promise.reject(dbError(new Error(`the transaction was already ${ended}`)));
    return {
      run: async (text, values) => {
        if (ended !== null) return closed();
        try {
          const [result, fields] = await conn.execute(text, values);
          return toResult(result, fields);
        } catch (e) {
          throw dbError(e);
        }
      },
      commit: () => (ended !== null ? closed() : end('commit', 'committed')),
      rollback: () => (ended !== null ? Promise.resolve() : end('rollback', 'rolled back')),
    };
  }

  async exec(script: string): Promise<void> {
    // A connection of its own: only schema scripts may hold several statements.
    const conn = await mysql.createConnection({ uri: this.url, multipleStatements: true, ...MYSQL_TYPE_OPTIONS });
    try {
      await conn.query(UTC_SESSION);
      await conn.query(script);
    } finally {
      await conn.end();
    }
  }

  async check(text: string): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await conn.prepare(text);
      // unprepare, not close: close leaves mysql2's per-connection cache pointing at the
      // closed statement, and the next execute of this text on the connection fails.
      conn.unprepare(text);
    } finally {
      conn.release();
    }
  }

  /**
   * On a connection of its own, opened at the first ping and again after a
   * failure: a pool busy with slow statements (calls queued for a connection)
   * is not a database that does not answer.
   */
  async ping(): Promise<void> {
    this.pinger ??= mysql.createConnection({ uri: this.url, connectTimeout: PING_CONNECT_TIMEOUT_MS, ...MYSQL_TYPE_OPTIONS }).then((conn) => {
      // A dropped connection is opened again at the next ping.
      conn.on('error', () => this.dropPinger(conn));
      conn.on('end', () => this.dropPinger(conn));
      return conn;
    });
    const pinger = this.pinger;
    try {
      await (await pinger).query('SELECT 1');
    } catch (e) {
      if (this.pinger === pinger) this.pinger = undefined;
      pinger.then((c) => c.destroy()).catch(() => undefined);
      throw e;
    }
  }

  private dropPinger(conn: mysql.Connection): void {
    const pinger = this.pinger;
    void pinger?.then(
      (c) => {
        if (c === conn && this.pinger === pinger) this.pinger = undefined;
      },
      () => undefined,
    );
  }

  usage(): PoolUsage {
    const raw = this.raw;
    return { inUse: (raw._allConnections?.length ?? 0) - (raw._freeConnections?.length ?? 0), waiting: raw._connectionQueue?.length ?? 0 };
  }

  async close(): Promise<void> {
    const pinger = this.pinger;
    this.pinger = undefined;
    await pinger?.then((c) => c.destroy()).catch(() => undefined);
    await this.pool.end();
  }
}

function toResult(result: unknown, fields?: readonly mysql.FieldPacket[]): QueryResult {
  if (Array.isArray(result)) {
    const rows = result as Record<string, unknown>[];
    if (fields && rows.length) isoDates(rows, fields);
    return { rows, affectedRows: 0, insertId: null };
  }
  const header = result as mysql.ResultSetHeader;
  // MySQL answers 0 for a statement that inserted nothing (an UPDATE, an INSERT that matched no row): no id, as on SQLite.
  return { affectedRows: header.affectedRows, insertId: header.insertId ? header.insertId : null };
}

/** DATETIME and TIMESTAMP columns' Dates as ISO 8601 strings: text, as on SQLite (hooks see strings on both). */
function isoDates(rows: Record<string, unknown>[], fields: readonly mysql.FieldPacket[]): void {
  let names: string[] | undefined;
  for (const f of fields) if (DATE_TYPES.has(f.columnType ?? f.type ?? -1)) (names ??= []).push(f.name);
  if (!names) return;
  for (const row of rows) {
    for (const name of names) {
      const v = row[name];
      if (v instanceof Date) row[name] = isoOfDate(v);
    }
  }
}

/** The URL with its password replaced, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'mysql (unparsable url)';
  }
}

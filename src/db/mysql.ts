import mysql from 'mysql2/promise';
import { isSockeyError } from '../core/errors.js';
import { dbError, type Driver, type QueryResult, type SqlStep, type SqlValue } from './driver.js';

interface CallbackPool {
  execute(sql: string, values: SqlValue[], cb: (err: Error | null, result: unknown) => void): void;
}

/** MySQL/MariaDB through a mysql2 pool; every statement runs as a server-side prepared statement. */
export class MysqlDriver implements Driver {
  readonly dialect = 'mysql' as const;
  readonly description: string;
  private readonly pool: mysql.Pool;
  /** The same pool's callback API: one promise per statement instead of three (the hot path). */
  private readonly raw: CallbackPool;

  constructor(
    private readonly url: string,
    poolSize: number,
  ) {
    // trace: false: no stack captured per query (errors become DB_ERROR; only their message is logged).
    this.pool = mysql.createPool({ uri: url, connectionLimit: poolSize, waitForConnections: true, maxIdle: poolSize, enableKeepAlive: true, trace: false });
    this.raw = (this.pool as unknown as { pool: CallbackPool }).pool;
    this.description = `mysql ${redact(url)}`;
  }

  run(text: string, values: SqlValue[]): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      this.raw.execute(text, values, (err, result) => (err ? reject(dbError(err)) : resolve(toResult(result))));
    });
  }

  async transaction(steps: readonly SqlStep[]): Promise<QueryResult[]> {
    let conn: mysql.PoolConnection | undefined;
    try {
      conn = await this.pool.getConnection();
      await conn.beginTransaction();
      const done: QueryResult[] = [];
      for (const step of steps) {
        const [result] = await conn.execute(step.text, step.values(done));
        const r = toResult(result);
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

  async exec(script: string): Promise<void> {
    // A connection of its own: only schema scripts may hold several statements.
    const conn = await mysql.createConnection({ uri: this.url, multipleStatements: true });
    try {
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

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function toResult(result: unknown): QueryResult {
  if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], affectedRows: 0, insertId: null };
  const header = result as mysql.ResultSetHeader;
  return { affectedRows: header.affectedRows, insertId: header.insertId ?? null };
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

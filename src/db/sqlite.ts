import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { isSockeyError } from '../core/errors.js';
import { dbError, type Driver, type QueryResult, type SqlStep, type SqlValue } from './driver.js';

type Statement = Database.Statement<unknown[]>;

/** Embedded SQLite through better-sqlite3: synchronous, statements prepared once and cached. */
export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();

  constructor(file: string | Buffer, options: { readonly?: boolean } = {}) {
    const onDisk = typeof file === 'string' && file !== ':memory:';
    if (onDisk && !options.readonly) mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (onDisk && !options.readonly) this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.description = typeof file === 'string' ? `sqlite ${file}` : 'sqlite (in-memory copy)';
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

  private statement(text: string): Statement {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  private runSync(text: string, values: SqlValue[], firstRow = false): QueryResult {
    const s = this.statement(text);
    if (s.reader) {
      if (firstRow) {
        const row = s.get(...values) as Record<string, unknown> | undefined;
        return { rows: row === undefined ? [] : [row], affectedRows: 0, insertId: null };
      }
      const rows = s.all(...values) as Record<string, unknown>[];
      return { rows, affectedRows: 0, insertId: null };
    }
    const info = s.run(...values);
    // lastInsertRowid is the connection's last insert, anyone's: a statement that changed nothing inserted nothing.
    return { affectedRows: info.changes, insertId: info.changes > 0 ? toId(info.lastInsertRowid) : null };
  }

  run(text: string, values: SqlValue[], firstRow?: boolean): QueryResult {
    try {
      return this.runSync(text, values, firstRow);
    } catch (e) {
      throw dbError(e);
    }
  }

  transaction(steps: readonly SqlStep[]): QueryResult[] {
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

  async exec(script: string): Promise<void> {
    this.db.exec(script);
  }

  async check(text: string): Promise<void> {
    this.db.prepare(text);
  }

  async close(): Promise<void> {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

function toId(id: number | bigint): number | string {
  return typeof id === 'bigint' ? (id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id.toString()) : id;
}

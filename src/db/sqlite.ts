import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { dbError, type Driver, type QueryResult, type SqlStep, type SqlValue } from './driver.js';

type Statement = Database.Statement<unknown[]>;

/** Embedded SQLite through better-sqlite3: synchronous, statements prepared once and cached. */
export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();

  constructor(file: string, options: { readonly?: boolean } = {}) {
    if (file !== ':memory:' && !options.readonly) mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (file !== ':memory:' && !options.readonly) this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.description = `sqlite ${file}`;
  }

  private statement(text: string): Statement {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  private runSync(text: string, values: SqlValue[]): QueryResult {
    const s = this.statement(text);
    if (s.reader) {
      const rows = s.all(...values) as Record<string, unknown>[];
      return { rows, affectedRows: 0, insertId: null };
    }
    const info = s.run(...values);
    return { affectedRows: info.changes, insertId: toId(info.lastInsertRowid) };
  }

  run(text: string, values: SqlValue[]): QueryResult {
    try {
      return this.runSync(text, values);
    } catch (e) {
      throw dbError(e);
    }
  }

  transaction(steps: SqlStep[]): QueryResult {
    try {
      return this.db.transaction(() => {
        let last: QueryResult = { affectedRows: 0, insertId: null };
        for (const step of steps) last = this.runSync(step.text, step.values);
        return last;
      })();
    } catch (e) {
      throw dbError(e);
    }
  }

  async exec(script: string): Promise<void> {
    this.db.exec(script);
  }

  async check(text: string): Promise<void> {
    this.db.prepare(text);
  }

  /** Runs `fn` inside a transaction that is always rolled back (validate --db applies schema files this way). */
  async dryRun(fn: () => Promise<void>): Promise<void> {
    this.db.exec('BEGIN');
    try {
      await fn();
    } finally {
      this.db.exec('ROLLBACK');
    }
  }

  async close(): Promise<void> {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

function toId(id: number | bigint): number | string {
  return typeof id === 'bigint' ? (id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id.toString()) : id;
}

import type { Driver, DriverTransaction, PoolUsage, QueryResult, SqlStep, SqlValue } from './driver.js';
import { ANY_TABLE, type Bound, type SqlTables, type StatementTables } from './sql-tables.js';

/**
 * A committed write as live queries need it: the table, and per written row
 * the values its columns can have had (keyOf form); `rows: null` when not
 * known. `table` is ANY_TABLE when the statement's targets are not known.
 */
export interface Write {
  table: string;
  rows: Array<Record<string, string[]>> | null;
}

/** Told once per commit (a statement, a statement list, a hook's transaction), with everything it wrote. */
export type WriteListener = (writes: Write[]) => void;

/** Distinct statement texts whose analysis is kept (route SQL is a few; hooks may build more). */
const PLAN_CACHE = 2000;

/**
 * A value as live queries compare it. Loose on purpose: SQL may match values
 * that differ as text (`'7'` and `7`; `'Ab'` and `'ab'` under MySQL's default
 * collation; trailing spaces), and two values compared equal here only cost a
 * re-run, while two that SQL matches but this told apart would miss an update.
 */
export function keyOf(v: SqlValue | undefined): string {
  if (v === null || v === undefined) return '\u0000null';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (Buffer.isBuffer(v)) return v.toString('hex');
  const s = v.trim();
  const n = s === '' ? NaN : Number(s);
  return Number.isFinite(n) ? String(n) : s.toLowerCase();
}

export function boundValue(bound: Bound, values: readonly SqlValue[]): string {
  return 'index' in bound ? keyOf(values[bound.index]) : keyOf(bound.value);
}

/**
 * The server's driver, which reports what every committed write touched to
 * one listener (the live queries), once it tracks: until then, and for an app
 * without live routes, it only passes calls through.
 */
export class TrackingDriver implements Driver {
  private tables?: SqlTables;
  private listener?: WriteListener;
  private readonly plans = new Map<string, StatementTables>();

  constructor(readonly inner: Driver) {}

  get dialect(): Driver['dialect'] {
    return this.inner.dialect;
  }
  get description(): string {
    return this.inner.description;
  }

  /** Starts (or, with no listener, stops) reporting writes. */
  track(tables: SqlTables | undefined, listener: WriteListener | undefined): void {
    this.tables = tables;
    this.listener = tables ? listener : undefined;
  }

  get tracking(): boolean {
    return this.listener !== undefined;
  }

  run(text: string, values: SqlValue[], firstRow?: boolean): QueryResult | Promise<QueryResult> {
    const r = this.inner.run(text, values, firstRow);
    if (this.listener === undefined) return r;
    if (r instanceof Promise) return r.then((x) => (this.report([[text, values, x]]), x));
    this.report([[text, values, r]]);
    return r;
  }

  transaction(steps: readonly SqlStep[]): QueryResult[] | Promise<QueryResult[]> {
    if (this.listener === undefined) return this.inner.transaction(steps);
    const seen: Array<[string, SqlValue[]]> = [];
    const watched = steps.map((s) => ({
      ...s,
      values: (done: readonly QueryResult[]) => {
        const v = s.values(done);
        seen.push([s.text, v]);
        return v;
      },
    }));
    const r = this.inner.transaction(watched);
    const committed = (results: QueryResult[]) => {
      this.report(seen.map(([text, values], i) => [text, values, results[i]!]));
      return results;
    };
    return r instanceof Promise ? r.then(committed) : committed(r);
  }

  async begin(): Promise<DriverTransaction> {
    const tx = await this.inner.begin();
    if (this.listener === undefined) return tx;
    const seen: Array<[string, SqlValue[], QueryResult]> = [];
    return {
      run: async (text, values) => {
        const r = await tx.run(text, values);
        seen.push([text, values, r]);
        return r;
      },
      commit: async () => {
        await tx.commit();
        this.report(seen);
      },
      rollback: () => tx.rollback(),
    };
  }

  exec(script: string): Promise<void> {
    return this.inner.exec(script);
  }
  check(text: string): Promise<void> {
    return this.inner.check(text);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  usage(): PoolUsage {
    return this.inner.usage();
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** The writes of one commit that changed something, to the listener (one call). */
  private report(done: ReadonlyArray<readonly [string, SqlValue[], QueryResult]>): void {
    const listener = this.listener;
    if (!listener) return;
    let writes: Write[] | undefined;
    for (const [text, values, result] of done) {
      if (result.affectedRows === 0 && !result.rows?.length) continue;
      const plan = this.planOf(text);
      if (plan.kind !== 'write') continue;
      for (const t of plan.targets) {
        const rows = t.rows && t.rows.map((row) => Object.fromEntries(Object.entries(row).map(([col, bounds]) => [col, bounds.map((b) => boundValue(b, values))])));
        (writes ??= []).push({ table: t.table, rows });
      }
    }
    if (writes) listener(writes);
  }

  private planOf(text: string): StatementTables {
    let plan = this.plans.get(text);
    if (plan) return plan;
    // A statement that cannot be read may have written any table.
    try {
      plan = this.tables!.analyze(text);
    } catch {
      plan = { kind: 'write', targets: [{ table: ANY_TABLE, rows: null }] };
    }
    if (this.plans.size < PLAN_CACHE) this.plans.set(text, plan);
    return plan;
  }
}

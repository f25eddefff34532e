import { createRequire } from 'node:module';
import { numberPlaceholders, type Dialect } from './named-params.js';

/** A column's value in a statement: the `index`-th bound value, or a literal. */
export type Bound = { index: number } | { value: string };

/** `table.column = <bound>` among the AND-ed conditions of a read's WHERE. */
export interface KeyFilter {
  table: string;
  column: string;
  bound: Bound;
}

/** What a read depends on: the tables it reads (CTEs and subqueries too), and its key filters. */
export interface ReadPlan {
  tables: string[];
  keys: KeyFilter[];
}

/**
 * One written table, and what is known of the rows written: per row, the
 * values a column can have had (before or after the write); a column absent
 * from a row is unknown. `rows: null`: nothing is known (any row).
 */
export interface WriteTarget {
  table: string;
  rows: Array<Record<string, Bound[]>> | null;
}

/** What a statement does to which tables; `unknown`: not a write, but which tables it reads is not known. */
export type StatementTables = { kind: 'read'; read: ReadPlan } | { kind: 'write'; targets: WriteTarget[] } | { kind: 'unknown' };

export interface SqlTables {
  /** `text` has `?` placeholders (what drivers run). Pure: the caller caches. */
  analyze(text: string): StatementTables;
}

type Node = SqlNode;
interface Parser {
  astify(sql: string, opt: { database: string }): Node | Node[];
  tableList(sql: string, opt: { database: string }): string[];
}

const WRITE_START = /^\s*(?:\(\s*)*(?:WITH\b[\s\S]*?\)\s*)?(INSERT|REPLACE|UPDATE|DELETE)\b/i;
/** When the parser cannot read a write: its target after INTO / UPDATE / DELETE FROM. */
const WRITE_TARGET =
  /\b(?:INSERT|REPLACE)\s+(?:OR\s+\w+\s+)?(?:IGNORE\s+)?INTO\s+([`"[]?[\w.]+[`"\]]?)|\bUPDATE\s+(?!SET\b)(?:OR\s+\w+\s+)?(?:LOW_PRIORITY\s+)?(?:IGNORE\s+)?([`"[]?[\w.]+[`"\]]?)|\bDELETE\s+(?:LOW_PRIORITY\s+)?(?:QUICK\s+)?(?:IGNORE\s+)?FROM\s+([`"[]?[\w.]+[`"\]]?)/gi;
/** The table of a write whose targets are not known: it may have changed any table. */
export const ANY_TABLE = '*';

const loaded = new Map<Dialect, SqlTables>();

/** One analyser per dialect and process (the parser is built once). */
export function sqlTablesFor(dialect: Dialect): SqlTables {
  let t = loaded.get(dialect);
  if (!t) loaded.set(dialect, (t = loadSqlTables(dialect)));
  return t;
}

/** One statement as node-sql-parser reads it: its tree (placeholders numbered `:__p<i>`), and its `op::db::table` list. */
export interface ParsedStatement {
  tree: SqlNode;
  tableList(): string[];
}

export type SqlNode = Record<string, unknown> & { type?: string };

/**
 * node-sql-parser's grammar for the dialect, then the other one (each refuses
 * some of the other's syntax), loaded on first use: it is large, and only live
 * routes and `sockey types` read SQL. Undefined when neither reads `text` (`?`
 * placeholders) as exactly one statement.
 */
export function parseStatement(text: string, dialect: Dialect): ParsedStatement | undefined {
  const marked = numberPlaceholders(text, dialect);
  for (const [parser, database] of grammarsFor(dialect)) {
    let ast: SqlNode | SqlNode[];
    try {
      ast = parser.astify(marked, { database });
    } catch {
      continue;
    }
    if (Array.isArray(ast) && ast.length !== 1) return undefined;
    return { tree: (Array.isArray(ast) ? ast[0] : ast)!, tableList: () => parser.tableList(marked, { database }) };
  }
  return undefined;
}

const grammars = new Map<Dialect, Array<[Parser, string]>>();

function grammarsFor(dialect: Dialect): Array<[Parser, string]> {
  let list = grammars.get(dialect);
  if (!list) {
    const require = createRequire(import.meta.url);
    const load = (g: 'mariadb' | 'sqlite'): [Parser, string] => [new (require(`node-sql-parser/build/${g}`) as { Parser: new () => Parser }).Parser(), g === 'mariadb' ? 'MariaDB' : 'Sqlite'];
    grammars.set(dialect, (list = dialect === 'mysql' ? [load('mariadb'), load('sqlite')] : [load('sqlite'), load('mariadb')]));
  }
  return list;
}

/** Tables and keys by node-sql-parser; a write it cannot read, by a pattern for its target tables. */
export function loadSqlTables(dialect: Dialect): SqlTables {
  return {
    analyze(text) {
      const parsed = parseStatement(text, dialect);
      return parsed ? analyzeTree(parsed.tree, parsed.tableList(), text) : fallback(text);
    },
  };
}

/** A write the grammars refuse: its targets by pattern, or any table. Anything else: unknown (not a write). */
function fallback(text: string): StatementTables {
  if (!WRITE_START.test(text)) return { kind: 'unknown' };
  const targets: WriteTarget[] = [];
  for (const m of text.matchAll(WRITE_TARGET)) {
    const name = m[1] ?? m[2] ?? m[3];
    if (name) targets.push({ table: tableName(name.replace(/[`"[\]]/g, '')), rows: null });
  }
  return { kind: 'write', targets: targets.length ? targets : [{ table: ANY_TABLE, rows: null }] };
}

/** `db.table` and `table` are one table; names compare without case. */
export function tableName(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot === -1 ? name : name.slice(dot + 1)).toLowerCase();
}

function analyzeTree(tree: Node, list: string[], text: string): StatementTables {
  const entries = list.map((e) => {
    const [op, , table] = e.split('::');
    return { op: op!, table: tableName(table!) };
  });
  const written = entries.filter((e) => e.op === 'insert' || e.op === 'update' || e.op === 'delete' || e.op === 'replace');
  if (tree.type === 'select') {
    if (written.length) return { kind: 'write', targets: [{ table: ANY_TABLE, rows: null }] };
    return { kind: 'read', read: { tables: unique(entries.map((e) => e.table)), keys: readKeys(tree) } };
  }
  if (!written.length) return WRITE_START.test(text) ? { kind: 'write', targets: [{ table: ANY_TABLE, rows: null }] } : { kind: 'unknown' };
  const targets = unique(written.map((e) => e.table));
  const rows = targets.length === 1 ? writtenRows(tree) : null;
  return { kind: 'write', targets: targets.map((table) => ({ table, rows })) };
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}

/** The `table AS alias` of a FROM list, alias (or name) to table. */
function aliases(from: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(from)) return map;
  for (const f of from as Node[]) {
    if (typeof f.table !== 'string') continue;
    const table = tableName(f.table);
    map.set(table, table);
    if (typeof f.as === 'string') map.set(f.as.toLowerCase(), table);
  }
  return map;
}

/** The AND-ed `column = value` conditions of a WHERE, as [column ref, bound] pairs. */
function equalities(where: unknown): Array<{ ref: Node; bound: Bound }> {
  const out: Array<{ ref: Node; bound: Bound }> = [];
  const walk = (n: unknown): void => {
    const node = n as Node | null;
    if (!node || node.type !== 'binary_expr') return;
    if (node.operator === 'AND') {
      walk(node.left);
      walk(node.right);
      return;
    }
    if (node.operator !== '=') return;
    const [l, r] = [node.left as Node, node.right as Node];
    const lb = boundOf(l);
    const rb = boundOf(r);
    if (l?.type === 'column_ref' && rb) out.push({ ref: l, bound: rb });
    else if (r?.type === 'column_ref' && lb) out.push({ ref: r, bound: lb });
  };
  walk(where);
  return out;
}

function boundOf(n: Node | undefined): Bound | undefined {
  if (!n) return undefined;
  if (n.type === 'param' && typeof n.value === 'string' && n.value.startsWith('__p')) return { index: Number(n.value.slice(3)) };
  if (n.type === 'number') return { value: String(n.value) };
  if ((n.type === 'single_quote_string' || n.type === 'string') && typeof n.value === 'string') return { value: n.value };
  return undefined;
}

function columnOf(ref: Node): string | undefined {
  const c = ref.column as unknown;
  if (typeof c === 'string') return c.toLowerCase();
  // Newer trees wrap the name: { expr: { value } }.
  const inner = (c as { expr?: { value?: unknown } } | undefined)?.expr?.value;
  return typeof inner === 'string' ? inner.toLowerCase() : undefined;
}

/** Key filters of a read: only where a column's table is certain (qualified, or the FROM has one table). */
function readKeys(tree: Node): KeyFilter[] {
  const from = aliases(tree.from);
  const only = from.size && new Set(from.values()).size === 1 ? [...from.values()][0] : undefined;
  const keys: KeyFilter[] = [];
  for (const { ref, bound } of equalities(tree.where)) {
    const column = columnOf(ref);
    const table = typeof ref.table === 'string' ? from.get(ref.table.toLowerCase()) : only;
    if (column && table) keys.push({ table, column, bound });
  }
  return keys;
}

/** What is known of the rows a single-table INSERT, UPDATE or DELETE writes. */
function writtenRows(tree: Node): WriteTarget['rows'] {
  if (tree.type === 'insert' || tree.type === 'replace') {
    const columns = tree.columns as unknown;
    const values = (tree.values as { type?: string; values?: Node[] } | undefined)?.values;
    // An upsert may change a row other than the one in VALUES; INSERT ... SELECT writes rows not in the text.
    if (!Array.isArray(columns) || !Array.isArray(values) || tree.on_duplicate_update) return null;
    return values.map((row) => {
      const known: Record<string, Bound[]> = {};
      const list = (row.value as Node[] | undefined) ?? [];
      columns.forEach((col: unknown, i) => {
        const bound = boundOf(list[i]);
        const name = typeof col === 'string' ? col.toLowerCase() : columnOf({ column: col } as Node);
        if (bound && name) known[name] = [bound];
      });
      return known;
    });
  }
  if (tree.type === 'update' || tree.type === 'delete') {
    const known: Record<string, Bound[]> = {};
    for (const { ref, bound } of equalities(tree.where)) {
      const column = columnOf(ref);
      if (column) known[column] = [...(known[column] ?? []), bound];
    }
    // A column the UPDATE sets has its new value too, or is unknown when it is not a plain value.
    for (const set of (tree.set as Node[] | undefined) ?? []) {
      const column = typeof set.column === 'string' ? set.column.toLowerCase() : undefined;
      if (!column || !(column in known)) continue;
      const bound = boundOf(set.value as Node);
      if (bound) known[column]!.push(bound);
      else delete known[column];
    }
    return [known];
  }
  return null;
}

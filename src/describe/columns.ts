import type { Dialect } from '../db/named-params.js';
import { parseStatement, type SqlNode } from '../db/sql-tables.js';
import { numberShape, objectOf, stringShape, unknownShape, type Shape } from './shape.js';

/**
 * What one statement answers, read from its SQL: rows (with the columns of its
 * select list or RETURNING, when they can be named), a write's counts, or not known.
 */
export type StatementKind = { kind: 'rows'; row: Shape } | { kind: 'write' } | { kind: 'unknown' };

type Node = SqlNode;

const OPEN_ROW = objectOf([], true);
const READ_START = /^\s*(?:\(\s*)*SELECT\b/i;
const WRITE_START = /^\s*(?:INSERT|REPLACE|UPDATE|DELETE)\b/i;

export interface StatementReader {
  /** `text` has `?` placeholders (what the drivers run). */
  read(text: string): StatementKind;
}

/** node-sql-parser (db/sql-tables.ts, both grammars); a statement it does not read is told by its first word. */
export function statementReader(dialect: Dialect): StatementReader {
  return {
    read(text) {
      const parsed = parseStatement(text, dialect);
      if (parsed) return kindOf(parsed.tree);
      if (READ_START.test(text)) return { kind: 'rows', row: OPEN_ROW };
      if (WRITE_START.test(text) && !/\bRETURNING\b/i.test(text)) return { kind: 'write' };
      return { kind: 'unknown' };
    },
  };
}

function kindOf(tree: Node): StatementKind {
  if (tree.type === 'select') return { kind: 'rows', row: tree._next ? OPEN_ROW : rowOf(tree.columns) };
  if (tree.type === 'insert' || tree.type === 'replace' || tree.type === 'update' || tree.type === 'delete') {
    const returning = tree.returning as Node | undefined;
    return returning ? { kind: 'rows', row: rowOf(returning.columns) } : { kind: 'write' };
  }
  return { kind: 'unknown' };
}

/** The row of a select list: a property per named column; `*` or an unnamed expression makes it open. */
function rowOf(columns: unknown): Shape {
  if (!Array.isArray(columns)) return OPEN_ROW;
  const props: Record<string, Shape> = {};
  for (const c of columns as Array<{ expr?: Node; as?: unknown }>) {
    const expr = c.expr ?? {};
    const column = expr.type === 'column_ref' ? columnName(expr.column) : undefined;
    if (column === '*') return OPEN_ROW;
    const name = typeof c.as === 'string' && c.as !== '' ? c.as : column;
    if (name === undefined) return OPEN_ROW;
    props[name] = valueOf(expr);
  }
  return objectOf(props);
}

function columnName(column: unknown): string | undefined {
  if (typeof column === 'string') return column;
  const inner = (column as { expr?: { value?: unknown } } | undefined)?.expr?.value;
  return typeof inner === 'string' ? inner : undefined;
}

/** What a column's expression tells of its value without the database's schema: counts and literals. */
function valueOf(expr: Node): Shape {
  if (expr.type === 'aggr_func' && String(expr.name).toUpperCase() === 'COUNT') return numberShape;
  if (expr.type === 'number') return numberShape;
  if (expr.type === 'single_quote_string' || expr.type === 'string') return stringShape;
  return unknownShape;
}

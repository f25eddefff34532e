/**
 * Rewrites `:name` parameters to `?` placeholders, respecting quotes and
 * comments, so values only ever reach SQL as bound parameters.
 */
export type Dialect = 'sqlite' | 'mysql';

export interface NamedParam {
  /** `room`, `auth.id`, `filter.from`: the dotted path after the colon. */
  name: string;
  /** Offset of the colon in the original SQL. */
  offset: number;
}

export interface RewrittenSql {
  text: string;
  params: NamedParam[];
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

export function rewriteNamedParams(sql: string, dialect: Dialect): RewrittenSql {
  const params: NamedParam[] = [];
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    const skip = skipNonCode(sql, i, dialect);
    if (skip !== -1) {
      out += sql.slice(i, skip);
      i = skip;
    } else if (c === ':' && next === ':') {
      // A `::` cast is not a parameter.
      out += '::';
      i += 2;
    } else if (c === ':' && next !== undefined && NAME_START.test(next) && !NAME_CHAR.test(sql[i - 1] ?? ' ')) {
      let j = i + 1;
      while (j < n && (NAME_CHAR.test(sql[j]!) || (sql[j] === '.' && j + 1 < n && NAME_START.test(sql[j + 1]!)))) j++;
      params.push({ name: sql.slice(i + 1, j), offset: i });
      out += '?';
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return { text: out, params };
}

/**
 * `?` placeholders numbered as `:__p0`, `:__p1`, ... (in order), so that a SQL
 * parser's tree says which value binds where (db/sql-tables.ts).
 */
export function numberPlaceholders(text: string, dialect: Dialect): string {
  let out = '';
  let k = 0;
  for (let i = 0; i < text.length;) {
    const skip = skipNonCode(text, i, dialect);
    if (skip !== -1) {
      out += text.slice(i, skip);
      i = skip;
    } else {
      out += text[i] === '?' ? `:__p${k++}` : text[i];
      i++;
    }
  }
  return out;
}

/** The end of a quoted string or a comment starting at `i`, or -1 when none starts there. */
function skipNonCode(sql: string, i: number, dialect: Dialect): number {
  const c = sql[i]!;
  const next = sql[i + 1];
  if (c === "'" || c === '"' || c === '`') return skipQuoted(sql, i, c, dialect);
  if ((c === '-' && next === '-') || (c === '#' && dialect === 'mysql')) {
    const end = sql.indexOf('\n', i);
    return end === -1 ? sql.length : end;
  }
  if (c === '/' && next === '*') {
    const end = sql.indexOf('*/', i + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return -1;
}

/** Index just past the closing quote (doubled quotes escape; MySQL also takes backslashes). */
function skipQuoted(sql: string, start: number, quote: string, dialect: Dialect): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === '\\' && dialect === 'mysql' && quote !== '`') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return sql.length;
}

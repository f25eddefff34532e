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
    if (c === "'" || c === '"' || c === '`') {
      const end = skipQuoted(sql, i, c, dialect);
      out += sql.slice(i, end);
      i = end;
    } else if ((c === '-' && next === '-') || (c === '#' && dialect === 'mysql')) {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      out += sql.slice(i, stop);
      i = stop;
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

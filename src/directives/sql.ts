import { toSqlValue, type QueryResult, type SqlStep, type SqlValue } from '../db/driver.js';
import { rewriteNamedParams } from '../db/named-params.js';
import type { ResultShape } from '../manifest/types.js';
import { SockeyError } from '../core/errors.js';
import { valueAt } from '../core/path.js';
import { closest } from '../manifest/suggest.js';
import type { Call } from '../core/route.js';
import type { DirectiveContext } from './context.js';
import type { ManifestPath } from '../manifest/diagnostics.js';

type Extract = (call: Call) => SqlValue;

interface CompiledStatement {
  text: string;
  extract: Extract[];
  path: ManifestPath;
}

/** The statements of a route with their placeholders, for `validate --db`. */
export interface SqlAction {
  run(call: Call): Promise<unknown> | unknown;
  statements: Array<{ text: string; path: ManifestPath }>;
}

/** `sql:` compiles to placeholder SQL plus one value extractor per placeholder. */
export function compileSql(sql: string | string[], result: ResultShape | undefined, ctx: DirectiveContext, expect?: Expectation, at: ManifestPath = [...ctx.at, 'sql']): SqlAction {
  const list = Array.isArray(sql) ? sql : [sql];
  const statements = list.map((text, i) => compileStatement(text, ctx, Array.isArray(sql) ? [...at, i] : [...at]));
  const shape = shaper(result);
  const verify = expect ? expectation(expect) : undefined;
  const db = ctx.db;
  const noDb = () => {
    throw new SockeyError('DB_ERROR');
  };
  const located = statements.map((s) => ({ text: s.text, path: s.path }));
  if (!db) return { run: noDb, statements: located };
  if (statements.length === 1) {
    const [{ text, extract }] = statements as [CompiledStatement];
    const firstRow = result === 'row' || result === 'value';
    return {
      statements: located,
      run(call) {
        const values = new Array<SqlValue>(extract.length);
        for (let i = 0; i < extract.length; i++) values[i] = extract[i]!(call);
        const r = db.run(text, values, firstRow && !expect);
        if (r instanceof Promise) return r.then(verify ? (x) => shape(verify(x)) : shape);
        return shape(verify ? verify(r) : r);
      },
    };
  }
  return {
    statements: located,
    run(call) {
      const steps: SqlStep[] = statements.map((s) => ({ text: s.text, values: s.extract.map((x) => x(call)) }));
      // An unmet expectation throws inside the transaction, which rolls it back.
      const r = db.transaction(steps, verify);
      return r instanceof Promise ? r.then(shape) : shape(r);
    },
  };
}

/** `expect:` on a statement's result: at least one row (`row`, `rows`) or a changed row (`changed`). */
export type Expectation = 'row' | 'rows' | 'changed';

function expectation(expect: Expectation): (r: QueryResult) => QueryResult {
  const met = expect === 'changed' ? (r: QueryResult) => r.affectedRows > 0 : (r: QueryResult) => (r.rows?.length ?? 0) > 0;
  return (r) => {
    if (!met(r)) throw new SockeyError('NOT_FOUND');
    return r;
  };
}

function compileStatement(sql: string, ctx: DirectiveContext, path: (string | number)[]): CompiledStatement {
  const brace = sql.indexOf('{{');
  if (brace !== -1) {
    ctx.sink.error('SQL_TEMPLATE', path, 'sql must not contain "{{": values reach SQL only as :name parameters', { offset: ctx.sink.offsetOf(path, '{{') });
  }
  const { text, params } = rewriteNamedParams(sql, ctx.dialect);
  const extract = params.map((p) => extractor(p.name, ctx, path));
  return { text, extract, path };
}

function extractor(name: string, ctx: DirectiveContext, path: (string | number)[]): Extract {
  const keys = name.split('.');
  if (keys[0] === 'auth') {
    if (ctx.auth === 'none') {
      ctx.sink.error('AUTH_REQUIRED', path, `:${name} needs auth: required or optional on the route`, { offset: ctx.sink.offsetOf(path, `:${name}`) });
    } else if (keys.length !== 2 || (keys[1] !== 'id' && keys[1] !== 'name')) {
      ctx.sink.error('SQL_PARAM', path, `:${name} is not a user field (use :auth.id or :auth.name)`, { offset: ctx.sink.offsetOf(path, `:${name}`) });
    }
    const field = keys[1] as 'id' | 'name';
    return (call) => toSqlValue(call.auth?.[field]);
  }
  if (ctx.paramNames && !ctx.paramNames.has(keys[0]!)) {
    const hint = closest(keys[0]!, [...ctx.paramNames]);
    const declared = ctx.paramNames.size ? ` (declared: ${[...ctx.paramNames].join(', ')})` : ' (the route declares no params)';
    ctx.sink.error('SQL_PARAM', path, `:${name} is not a declared param${hint ? `; did you mean :${hint}?` : declared}`, { offset: ctx.sink.offsetOf(path, `:${name}`) });
  }
  if (keys.length === 1) {
    const key = keys[0]!;
    return (call) => toSqlValue(call.params[key]);
  }
  return (call) => toSqlValue(valueAt(call.params, keys));
}

/** `result:` as a function of the driver's result. Reads default to rows, writes to affected. */
function shaper(result: ResultShape | undefined): (r: QueryResult) => unknown {
  switch (result) {
    case 'rows':
      return (r) => r.rows ?? [];
    case 'row':
      return (r) => r.rows?.[0] ?? null;
    case 'value':
      return (r) => {
        const row = r.rows?.[0];
        if (!row) return null;
        for (const k in row) return row[k];
        return null;
      };
    case 'affected':
      return (r) => ({ affectedRows: r.affectedRows, insertId: r.insertId });
    case 'none':
      return () => null;
    default:
      return (r) => r.rows ?? { affectedRows: r.affectedRows, insertId: r.insertId };
  }
}

import { bindingFor, toSqlValue, type QueryResult, type SqlStep, type SqlValue } from '../db/driver.js';
import { rewriteNamedParams } from '../db/named-params.js';
import type { Expectation, RawSqlStep, ResultShape } from '../manifest/types.js';
import { SockeyError } from '../core/errors.js';
import { valueAt } from '../core/path.js';
import { closest } from '../manifest/suggest.js';
import type { Call } from '../core/route.js';
import type { DirectiveContext } from './context.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import { viewOf } from './template.js';

/** A placeholder's value: from the message, or (`:steps.<name>.<col>`) from an earlier step's result. */
type Extract = (call: Call, done: readonly QueryResult[]) => SqlValue;

interface CompiledStatement {
  text: string;
  extract: Extract[];
  path: ManifestPath;
  /** `as:` of the step, when named. */
  name?: string;
  shape: (r: QueryResult) => unknown;
  check?: (r: QueryResult) => void;
}

/** The statements of a route with their placeholders, for `validate --db`. */
export interface SqlAction {
  run(call: Call): Promise<unknown> | unknown;
  statements: Array<{ text: string; path: ManifestPath }>;
  /** Names given with `as:`, in order: templates may read `{{steps.<name>}}`. */
  stepNames: readonly string[];
  /** A single statement: its text and the values a call binds (live queries key on them). */
  single?: BoundStatement;
}

export interface BoundStatement {
  text: string;
  /** Which param each placeholder binds, in order (`board`, `auth.id`, `steps.x.y`). */
  names: readonly string[];
  values(call: Call): SqlValue[];
}

/** `expect:` on a statement's result: at least one row (`row`, `rows`) or a changed row (`changed`). */
export type { Expectation };

export interface SqlOptions {
  result?: ResultShape;
  expect?: Expectation;
  /** Columns parsed from JSON text in every row (`json:`). */
  json?: readonly string[];
}

const NO_STEPS: readonly QueryResult[] = [];

/**
 * `sql:` compiles to placeholder SQL plus one value extractor per
 * placeholder. A list is one transaction; its steps may be named (`as:`),
 * bind earlier steps' results, and be shaped and checked one by one.
 */
export function compileSql(sql: string | ReadonlyArray<string | RawSqlStep>, options: SqlOptions, ctx: DirectiveContext, at: ManifestPath = [...ctx.at, 'sql']): SqlAction {
  const list = typeof sql === 'string' ? [sql] : sql;
  const names: string[] = [];
  let placeholderNames: readonly string[] = [];
  const statements = list.map((item, i) => {
    const step: RawSqlStep = typeof item === 'string' ? { sql: item } : item;
    const path = typeof sql === 'string' ? [...at] : typeof item === 'string' ? [...at, i] : [...at, i, 'sql'];
    const last = i === list.length - 1;
    // The route's result and expect describe the last step, unless it says otherwise.
    const result = step.result ?? (last ? options.result : undefined);
    const expect = step.expect ?? (last ? options.expect : undefined);
    const compiled = compileStatement(step.sql, ctx, path, names);
    if (typeof sql === 'string') placeholderNames = compiled.names;
    if (step.as !== undefined) {
      if (names.includes(step.as)) ctx.sink.error('STEP', [...at, i, 'as'], `two steps are named "${step.as}"`);
      names.push(step.as);
    }
    return { ...compiled, name: step.as, shape: shaper(result, options.json), check: expect ? expectation(expect) : undefined };
  });
  const located = statements.map((s) => ({ text: s.text, path: s.path }));
  const first = statements[0]! as CompiledStatement;
  const single: BoundStatement | undefined = typeof sql === 'string' ? { text: first.text, names: placeholderNames, values: (call) => first.extract.map((x) => x(call, NO_STEPS)) } : undefined;
  const db = ctx.db;
  if (!db)
    return {
      run: () => {
        throw new SockeyError('DB_ERROR');
      },
      statements: located,
      stepNames: names,
      single,
    };
  if (typeof sql === 'string') {
    const { text, extract, shape, check } = first;
    const firstRow = (options.result === 'row' || options.result === 'value') && !check;
    return {
      statements: located,
      stepNames: names,
      single,
      run(call) {
        const values = new Array<SqlValue>(extract.length);
        for (let i = 0; i < extract.length; i++) values[i] = extract[i]!(call, NO_STEPS);
        const r = db.run(text, values, firstRow);
        if (r instanceof Promise) return r.then(check ? (x) => (check(x), shape(x)) : shape);
        check?.(r);
        return shape(r);
      },
    };
  }
  const named = statements.some((s) => s.name !== undefined);
  return {
    statements: located,
    stepNames: names,
    run(call) {
      const steps: SqlStep[] = statements.map((s) => ({ text: s.text, values: (done) => s.extract.map((x) => x(call, done)), check: s.check }));
      // An unmet expectation throws inside the transaction, which rolls it back.
      const r = db.transaction(steps);
      return r instanceof Promise ? r.then((done) => answer(call, done)) : answer(call, r);
    },
  };

  /** The last step's result; named steps go to the view, for `reply` and `emit` templates. */
  function answer(call: Call, done: readonly QueryResult[]): unknown {
    if (named) {
      const steps: Record<string, unknown> = {};
      for (let i = 0; i < statements.length; i++) {
        const s = statements[i]!;
        if (s.name !== undefined) steps[s.name] = s.shape(done[i]!);
      }
      viewOf(call).steps = steps;
    }
    return statements[statements.length - 1]!.shape(done[done.length - 1]!);
  }
}

function expectation(expect: Expectation): (r: QueryResult) => void {
  // A write with RETURNING answers its rows (one per changed row) and no affectedRows: those rows count as changed.
  const met = expect === 'changed' ? (r: QueryResult) => r.affectedRows > 0 || (r.rows?.length ?? 0) > 0 : (r: QueryResult) => (r.rows?.length ?? 0) > 0;
  return (r) => {
    if (!met(r)) throw new SockeyError('NOT_FOUND');
  };
}

function compileStatement(sql: string, ctx: DirectiveContext, path: ManifestPath, steps: readonly string[]): Omit<CompiledStatement, 'shape'> & { names: string[] } {
  const brace = sql.indexOf('{{');
  if (brace !== -1) {
    ctx.sink.error('SQL_TEMPLATE', path, 'sql must not contain "{{": values reach SQL only as :name parameters', { offset: ctx.sink.offsetOf(path, '{{') });
  }
  const { text, params } = rewriteNamedParams(sql, ctx.dialect);
  const extract = params.map((p) => extractor(p.name, ctx, path, steps));
  return { text, extract, path, names: params.map((p) => p.name) };
}

function extractor(name: string, ctx: DirectiveContext, path: ManifestPath, steps: readonly string[]): Extract {
  const keys = name.split('.');
  const where = { offset: ctx.sink.offsetOf(path, `:${name}`) };
  if (keys[0] === 'auth') {
    if (ctx.auth === 'none') {
      ctx.sink.error('AUTH_REQUIRED', path, `:${name} ${ctx.schedule ? 'cannot be bound: a schedule runs with no user' : 'needs auth: required or optional on the route'}`, where);
    } else if (keys.length !== 2 || (keys[1] !== 'id' && keys[1] !== 'name')) {
      ctx.sink.error('SQL_PARAM', path, `:${name} is not a user field (use :auth.id or :auth.name)`, where);
    }
    const field = keys[1] as 'id' | 'name';
    return (call) => toSqlValue(call.auth?.[field]);
  }
  if (keys[0] === 'steps') return stepExtractor(name, keys, ctx, path, steps, where);
  if (ctx.paramNames && !ctx.paramNames.has(keys[0]!)) {
    const hint = closest(keys[0]!, [...ctx.paramNames]);
    const declared = ctx.paramNames.size ? ` (declared: ${[...ctx.paramNames].join(', ')})` : ' (the route declares no params)';
    ctx.sink.error('SQL_PARAM', path, `:${name} is not a declared param${hint ? `; did you mean :${hint}?` : declared}`, where);
  }
  if (keys.length === 1) {
    const key = keys[0]!;
    // A `format: date-time` param binds as UTC SQL text, which every database's DATETIME accepts.
    const bind = bindingFor(ctx.paramFormats.get(key));
    if (bind) return (call) => bind(call.params[key]);
    return (call) => toSqlValue(call.params[key]);
  }
  return (call) => toSqlValue(valueAt(call.params, keys));
}

/**
 * `:steps.<name>.<column>`: a column of the step's first row, or the
 * `insertId` / `affectedRows` of a write step. Only earlier steps can be read.
 */
function stepExtractor(name: string, keys: string[], ctx: DirectiveContext, path: ManifestPath, steps: readonly string[], where: { offset?: number }): Extract {
  const step = keys[1];
  const index = step === undefined ? -1 : steps.indexOf(step);
  if (index === -1 || keys.length !== 3) {
    const why =
      keys.length !== 3
        ? 'use :steps.<name>.<column>'
        : steps.length
          ? `no earlier step is named "${step}" (earlier: ${steps.join(', ')}); a step is named with as: and can be read by the steps after it`
          : `no earlier step is named "${step}"; a step of a sql list is named with as: and can be read by the steps after it`;
    ctx.sink.error('STEP', path, `:${name}: ${why}`, where);
    return () => null;
  }
  const column = keys[2]!;
  return (_call, done) => {
    const r = done[index];
    if (!r) return null;
    if (r.rows) return toSqlValue(r.rows[0]?.[column]);
    if (column === 'insertId') return r.insertId;
    if (column === 'affectedRows') return r.affectedRows;
    return null;
  };
}

/** `result:` as a function of the driver's result. Reads default to rows, writes to affected. `json` columns are parsed first. */
function shaper(result: ResultShape | undefined, json: readonly string[] | undefined): (r: QueryResult) => unknown {
  const shape = plainShaper(result);
  if (!json?.length) return shape;
  return (r) => {
    if (r.rows) for (const row of r.rows) parseJsonColumns(row, json);
    return shape(r);
  };
}

function parseJsonColumns(row: Record<string, unknown>, json: readonly string[]): void {
  for (const col of json) {
    const v = row[col];
    if (typeof v !== 'string') continue;
    try {
      row[col] = JSON.parse(v);
    } catch {
      // Not JSON text: left as stored, so one bad row does not fail the read.
    }
  }
}

function plainShaper(result: ResultShape | undefined): (r: QueryResult) => unknown {
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

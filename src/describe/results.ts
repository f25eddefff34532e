import { rewriteNamedParams, type Dialect } from '../db/named-params.js';
import { EXACT_TAG } from '../directives/template-engine.js';
import { formatPath, type ManifestPath } from '../manifest/diagnostics.js';
import { isSqlFile } from '../manifest/files.js';
import type { RawAction, RawSqlStep } from '../manifest/types.js';
import type { StatementReader } from './columns.js';
import { affectedShape, presenceMemberShape, userIdShape } from './known.js';
import { arrayOf, literal, nonNull, nullable, nullShape, objectOf, propertyOf, stringShape, unionOf, unknownShape, type Shape } from './shape.js';

/** What an action's result is read against. */
export interface ResultContext {
  /** Where the action is declared (`routes.x`, `routes.x.timers.0`, `schedules.y`). */
  at: ManifestPath;
  /** What `{{params}}` is: the route's params, or a schedule's `{ tick, now }`. */
  params: Shape;
  /** The route's params schema, to tell whether `{{params.x}}` may be missing. */
  paramsSchema?: unknown;
  /** `{{auth}}` is there (the route has auth). */
  auth: boolean;
  /** A schedule: `{{tick}}` and `{{now}}`. */
  schedule?: boolean;
  dialect: Dialect;
  reader: StatementReader;
  /** The text of files the manifest names (`sql: ./list.sql`), by manifest path. */
  included: ReadonlyMap<string, { text: string }>;
}

/**
 * The `res` an action answers, as far as the manifest tells: a reply
 * template's structure, what `result:` makes of the SQL's rows or counts, the
 * presence list; a hook's is unknown.
 */
export function actionResult(raw: RawAction & { presence?: string }, ctx: ResultContext): Shape {
  let base: Shape = unknownShape;
  let steps: Record<string, Shape> = {};
  if (raw.sql !== undefined) ({ res: base, steps } = sqlResult(raw, ctx));
  else if (raw.presence !== undefined) base = arrayOf(presenceMemberShape);
  else if (raw.hook !== undefined) base = unknownShape;
  else if (raw.reply === undefined) base = nullShape;
  if (raw.reply === undefined) return base;
  const view: Record<string, Shape> = { params: ctx.params, res: base, steps: objectOf(steps, true), event: stringShape };
  if (ctx.auth) view.auth = objectOf({ id: userIdShape, name: stringShape });
  if (ctx.schedule) Object.assign(view, { tick: propertyOf(ctx.params, 'tick'), now: propertyOf(ctx.params, 'now') });
  return replyShape(raw.reply, view, ctx);
}

function sqlResult(raw: RawAction, ctx: ResultContext): { res: Shape; steps: Record<string, Shape> } {
  const sql = raw.sql!;
  const list = typeof sql === 'string' ? [sql] : sql;
  const steps: Record<string, Shape> = {};
  let res: Shape = unknownShape;
  list.forEach((item, i) => {
    const step: RawSqlStep = typeof item === 'string' ? { sql: item } : item;
    const path = typeof sql === 'string' ? [...ctx.at, 'sql'] : typeof item === 'string' ? [...ctx.at, 'sql', i] : [...ctx.at, 'sql', i, 'sql'];
    const last = i === list.length - 1;
    const shape = statementResult(statementText(step.sql, path, ctx), step.result ?? (last ? raw.result : undefined), step.expect ?? (last ? raw.expect : undefined), ctx);
    if (step.as !== undefined) steps[step.as] = shape;
    if (last) res = shape;
  });
  return { res, steps };
}

function statementText(sql: string, path: ManifestPath, ctx: ResultContext): string | undefined {
  const text = isSqlFile(sql) ? ctx.included.get(formatPath(path))?.text : sql;
  return text === undefined ? undefined : rewriteNamedParams(text, ctx.dialect).text;
}

/** One statement's result through `result:` (sql.ts's shaper); `expect:` rules out the missing row. */
function statementResult(text: string | undefined, result: RawAction['result'], expect: RawAction['expect'], ctx: ResultContext): Shape {
  const read = text === undefined ? ({ kind: 'unknown' } as const) : ctx.reader.read(text);
  const row = read.kind === 'rows' ? read.row : read.kind === 'write' ? undefined : objectOf([], true);
  const found = (s: Shape) => (expect ? nonNull(s) : s);
  switch (result) {
    case 'rows':
      return arrayOf(row ?? objectOf([], true));
    case 'row':
      return row ? found(nullable(row)) : nullShape;
    case 'value': {
      const first = row?.kind === 'object' && !row.open ? row.props[0]?.shape : undefined;
      return row ? found(nullable(first ?? unknownShape)) : nullShape;
    }
    case 'affected':
      return affectedShape;
    case 'none':
      return nullShape;
    default:
      if (read.kind === 'rows') return arrayOf(read.row);
      if (read.kind === 'write') return affectedShape;
      return unionOf(arrayOf(objectOf([], true)), affectedShape);
  }
}

/** A reply template: constant leaves keep their value, `{{name}}` alone keeps the named value's shape, other strings are strings. */
function replyShape(value: unknown, view: Record<string, Shape>, ctx: ResultContext): Shape {
  if (typeof value === 'string') {
    const exact = EXACT_TAG.exec(value);
    if (exact) return lookup(exact[1]!.split('.'), view, ctx);
    return value.includes('{{') ? stringShape : literal(value);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return literal(value);
  if (value === null || value === undefined) return nullShape;
  if (Array.isArray(value)) return arrayOf(value.length ? unionOf(...value.map((v) => replyShape(v, view, ctx))) : unknownShape);
  if (typeof value === 'object') return objectOf(Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replyShape(v, view, ctx)])));
  return unknownShape;
}

/** `{{a.b.c}}` in the view; a missing value renders as null. */
function lookup(keys: string[], view: Record<string, Shape>, ctx: ResultContext): Shape {
  let s = view[keys[0]!];
  if (s === undefined) return unknownShape;
  for (const k of keys.slice(1)) s = propertyOf(s, k);
  if (s.kind === 'params' && s.key !== undefined) return { ...s, nullable: !alwaysThere(ctx.paramsSchema, s.key) };
  return s;
}

/** A param that is required or has a default is in every validated payload. */
function alwaysThere(schema: unknown, key: string): boolean {
  if (!schema || typeof schema !== 'object') return false;
  const s = schema as { required?: unknown; properties?: Record<string, { default?: unknown } | undefined> };
  return (Array.isArray(s.required) && s.required.includes(key)) || s.properties?.[key]?.default !== undefined;
}

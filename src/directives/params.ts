import type { ErrorObject } from 'ajv';
import { SockeyError } from '../core/errors.js';
import { compileValidator } from './validators.js';
import type { DirectiveContext } from './context.js';
import type { Directive } from './directive.js';

export interface ParamsDirective {
  validate(payload: unknown): Record<string, unknown>;
  names: ReadonlySet<string> | null;
  /** `format` of the top-level params that declare one. */
  formats: ReadonlyMap<string, string>;
  /** The schema refuses names it does not declare. */
  closed: boolean;
  summary: string[];
}

/** `params:` compiles once to an ajv validator that also fills defaults. */
export function compileParams(schema: Record<string, unknown> | boolean | undefined, ctx: DirectiveContext): ParamsDirective {
  const effective = schema === undefined ? { type: 'object' } : schema;
  const misplaced = typeof schema === 'object' && schema !== null ? misplacedKeywords(schema, [...ctx.at, 'params']) : [];
  for (const m of misplaced) {
    const hint = `if it is meant as the "${m.name}" keyword of the schema, indent it one level less`;
    // A boolean passes as a schema, so it would silently declare a property: warn. Anything else ajv refuses: say why.
    if (m.isSchema) ctx.sink.warn('PARAMS_SCHEMA', m.path, `"${m.name}" is declared as a property (it is under properties:); ${hint}`, { at: 'key' });
    else ctx.sink.error('PARAMS_SCHEMA', m.path, `"${m.name}" is under properties:, so it must be a property's schema; ${hint}`, { at: 'key' });
  }
  let check: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
  try {
    check = compileValidator(effective);
  } catch (e) {
    if (!misplaced.some((m) => !m.isSchema)) {
      const reasons = [...new Set((e as Error).message.replace(/^schema is invalid: /, '').split(', '))].join(', ');
      ctx.sink.error('PARAMS_SCHEMA', [...ctx.at, 'params'], `params is not a valid JSON Schema: ${reasons}`);
    }
    check = Object.assign(() => true, { errors: null });
  }
  const names = declaredNames(effective);
  return {
    names,
    formats: declaredFormats(effective),
    closed: isClosed(effective),
    summary: names ? [...names] : ['*'],
    validate(payload) {
      const data = payload === undefined || payload === null ? {} : payload;
      if (typeof data !== 'object' || Array.isArray(data)) {
        throw new SockeyError('VALIDATION', 'Invalid parameters: the payload must be an object.', [{ path: '', message: 'must be object' }]);
      }
      if (!check(data)) {
        // `if` only says a `then` failed; the `then` errors themselves are listed.
        const details = (check.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => ({ path: e.instancePath, message: e.message ?? 'is invalid', keyword: e.keyword, params: e.params }));
        const text = details.map((d) => `${d.path || '(payload)'} ${d.message}`).join('; ');
        throw new SockeyError('VALIDATION', `Invalid parameters: ${text}.`, details);
      }
      return data as Record<string, unknown>;
    },
  };
}

/** Top-level property names of a schema (through allOf/anyOf/oneOf); null behind a $ref. */
function declaredNames(schema: unknown): Set<string> | null {
  if (typeof schema !== 'object' || schema === null) return null;
  const s = schema as Record<string, unknown>;
  const names = new Set<string>(Object.keys((s.properties as object | undefined) ?? {}));
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const parts = s[key];
    if (!Array.isArray(parts)) continue;
    for (const part of parts) {
      const sub = declaredNames(part);
      if (sub === null) return null;
      sub.forEach((n) => names.add(n));
    }
  }
  if (s.$ref !== undefined) return null;
  return names;
}

/** `format` of each top-level property (through allOf/anyOf/oneOf); a name given two different formats gets none. */
function declaredFormats(schema: unknown, into = new Map<string, string>(), clash = new Set<string>()): Map<string, string> {
  if (typeof schema !== 'object' || schema === null) return into;
  const s = schema as Record<string, unknown>;
  const props = s.properties;
  if (props && typeof props === 'object') {
    for (const [name, sub] of Object.entries(props as Record<string, unknown>)) {
      const format = typeof sub === 'object' && sub !== null ? (sub as { format?: unknown }).format : undefined;
      if (typeof format !== 'string' || clash.has(name)) continue;
      const seen = into.get(name);
      if (seen === undefined) into.set(name, format);
      else if (seen !== format) {
        into.delete(name);
        clash.add(name);
      }
    }
  }
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const parts = s[key];
    if (Array.isArray(parts)) for (const part of parts) declaredFormats(part, into, clash);
  }
  return into;
}

function isClosed(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  const s = schema as Record<string, unknown>;
  return s.additionalProperties === false || s.unevaluatedProperties === false;
}

/** Keywords that, written one level too deep under `properties:`, silently become property names. */
const SCHEMA_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'unevaluatedProperties',
  'patternProperties',
  'propertyNames',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'contains',
  'enum',
  'const',
  'default',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minProperties',
  'maxProperties',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'dependentRequired',
  'dependentSchemas',
  '$ref',
]);

/**
 * Properties named like a keyword whose value is not an object schema
 * (`required: [a]` or `additionalProperties: false` indented under
 * `properties:`): almost always a keyword written one level too deep.
 */
function misplacedKeywords(schema: object, at: (string | number)[]): Array<{ path: (string | number)[]; name: string; isSchema: boolean }> {
  const found: Array<{ path: (string | number)[]; name: string; isSchema: boolean }> = [];
  const s = schema as Record<string, unknown>;
  const props = s.properties;
  if (props && typeof props === 'object' && !Array.isArray(props)) {
    for (const [name, value] of Object.entries(props)) {
      const here = [...at, 'properties', name];
      if (SCHEMA_KEYWORDS.has(name) && !looksLikeSchema(value)) found.push({ path: here, name, isSchema: typeof value === 'boolean' || isPlainObject(value) });
      else if (isPlainObject(value)) found.push(...misplacedKeywords(value, here));
    }
  }
  if (isPlainObject(s.items)) found.push(...misplacedKeywords(s.items, [...at, 'items']));
  return found;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object holding at least one schema keyword (or nothing at all: `{}` accepts anything, on purpose). */
function looksLikeSchema(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 0 || keys.some((k) => SCHEMA_KEYWORDS.has(k) || k === 'description' || k === 'title' || k === '$comment' || k === 'examples');
}

/** `params:` the payload's JSON Schema; tells the directives after it which names are declared (and their formats). */
export const paramsDirective: Directive = {
  keys: ['params'],
  compile(raw, ctx, draft) {
    const params = compileParams(raw.params, ctx);
    ctx.paramNames = params.names;
    ctx.paramFormats = params.formats;
    ctx.paramsClosed = params.closed;
    draft.validate = params.validate;
    draft.params = params.summary;
  },
};

import type { ErrorObject } from 'ajv';
import { SockeyError } from '../runtime/errors.js';
import { compileValidator } from '../compile/validators.js';
import type { DirectiveContext } from './context.js';

export interface ParamsDirective {
  validate(payload: unknown): Record<string, unknown>;
  names: ReadonlySet<string> | null;
  summary: string[];
}

/** `params:` compiles once to an ajv validator that also fills defaults. */
export function compileParams(schema: Record<string, unknown> | boolean | undefined, ctx: DirectiveContext): ParamsDirective {
  const effective = schema === undefined ? { type: 'object' } : schema;
  let check: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
  try {
    check = compileValidator(effective);
  } catch (e) {
    ctx.sink.error('PARAMS_SCHEMA', [...ctx.at, 'params'], `params is not a valid JSON Schema: ${(e as Error).message}`);
    check = Object.assign(() => true, { errors: null });
  }
  const names = declaredNames(effective);
  return {
    names,
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

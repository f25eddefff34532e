import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { DiagnosticSink } from './load.js';
import { closest } from './suggest.js';

export const SCHEMA_URL = new URL('../../schema/sockey.schema.json', import.meta.url);

let validator: ValidateFunction | undefined;

/** The manifest schema, compiled once per process. */
function manifestValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(readFileSync(SCHEMA_URL, 'utf8'));
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
    validator = ajv.compile(schema);
  }
  return validator;
}

/** Checks the plain manifest value against the JSON Schema; every problem goes to `sink`. */
export function checkSchema(data: unknown, sink: DiagnosticSink): boolean {
  const validate = manifestValidator();
  if (validate(data)) return true;
  for (const err of pruneErrors(validate.errors ?? [])) report(err, sink);
  return false;
}

function toPath(instancePath: string): string[] {
  return instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * ajv reports every failed branch of an anyOf. Keep the most specific ones:
 * errors below an anyOf's path win over it; an anyOf wins over its own branches' top-level errors.
 */
function pruneErrors(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const deeper = (p: string) => errors.some((e) => e.keyword !== 'anyOf' && e.instancePath.startsWith(p + '/'));
  const seen = new Set<string>();
  return errors.filter((e) => {
    // An if/then/else (an object or a string) says nothing its branch's own errors do not.
    if (e.keyword === 'if') return false;
    if (e.keyword === 'anyOf') {
      if (deeper(e.instancePath)) return false;
    } else if (anyOfPaths.has(e.instancePath)) {
      // A branch's own complaint about the value (even through a $ref, whose schemaPath names no anyOf) says less than the anyOf's description.
      if (!deeper(e.instancePath)) return false;
      if (e.keyword === 'type' || e.keyword === 'enum' || e.keyword === 'pattern' || e.keyword === 'const') return false;
    }
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function report(err: ErrorObject, sink: DiagnosticSink): void {
  const path = toPath(err.instancePath);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const known = Object.keys((err.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const hint = closest(name, known);
      sink.error('SCHEMA', [...path, name], `unknown property "${name}"${hint ? ` (did you mean "${hint}"?)` : known.length ? ` (expected one of: ${known.join(', ')})` : ''}`, { at: 'key' });
      return;
    }
    case 'required':
      sink.error('SCHEMA', path, `missing required property "${String(params.missingProperty)}"`, { at: 'key' });
      return;
    case 'enum':
      sink.error('SCHEMA', path, `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
      return;
    case 'const':
      sink.error('SCHEMA', path, `must be ${JSON.stringify(params.allowedValue)}`);
      return;
    case 'anyOf': {
      const description = (err.parentSchema as { description?: string } | undefined)?.description;
      sink.error('SCHEMA', path, description ? `invalid value: expected ${lowerFirst(description)}` : 'invalid value');
      return;
    }
    default:
      sink.error('SCHEMA', path, err.message ?? 'invalid value');
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

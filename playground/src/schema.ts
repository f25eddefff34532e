import type { Schema } from './types.js';

// A sample payload for a route, built from its params JSON Schema: `default`s and
// `examples` first, then placeholders by type for required properties.

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Follows local `$ref`s (`#/$defs/x`, `#/definitions/x`); anything else is left as is. */
function deref(schema: Schema, root: Schema, depth = 0): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#') || depth > 10) return schema;
  let target: unknown = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    target = isSchema(target) ? target[decodeURIComponent(part.replace(/~1/g, '/').replace(/~0/g, '~'))] : undefined;
  }
  return isSchema(target) ? deref(target, root, depth + 1) : schema;
}

function typeOf(schema: Schema): string | undefined {
  const t = schema.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return (t.find((x) => x !== 'null') ?? t[0]) as string | undefined;
  if (isSchema(schema.properties)) return 'object';
  if (schema.items !== undefined) return 'array';
  return undefined;
}

function stringFor(schema: Schema): string {
  const byFormat: Record<string, string> = {
    email: 'user@example.com',
    uri: 'https://example.com/',
    url: 'https://example.com/',
    uuid: '00000000-0000-4000-8000-000000000000',
    date: new Date().toISOString().slice(0, 10),
    'date-time': new Date().toISOString(),
    time: '12:00:00Z',
    ipv4: '127.0.0.1',
    hostname: 'example.com',
  };
  let s = (typeof schema.format === 'string' && byFormat[schema.format]) || 'text';
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Infinity;
  while (s.length < min) s += 'x';
  return s.slice(0, Math.max(max, 0));
}

function numberFor(schema: Schema, integer: boolean): number {
  let n = 0;
  if (typeof schema.minimum === 'number') n = schema.minimum;
  else if (typeof schema.exclusiveMinimum === 'number') n = schema.exclusiveMinimum + 1;
  else if (typeof schema.maximum === 'number' && schema.maximum < 0) n = schema.maximum;
  return integer ? Math.ceil(n) : n;
}

/** Whether `value` plausibly matches an `if` schema (const / enum / type of its properties). */
function matches(value: unknown, schema: Schema): boolean {
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) return false;
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) return false;
  if (isSchema(schema.properties)) {
    if (!isSchema(value)) return false;
    for (const [k, sub] of Object.entries(schema.properties)) {
      if (k in value && isSchema(sub) && !matches(value[k], sub)) return false;
    }
  }
  if (Array.isArray(schema.required) && isSchema(value) && !schema.required.every((k) => k in value)) return false;
  return true;
}

/** The sample value of `schema`; `root` resolves `$ref`s. */
export function sampleOf(input: unknown, root: Schema = isSchema(input) ? input : {}, depth = 0): unknown {
  if (!isSchema(input) || depth > 8) return undefined;
  const schema = deref(input, root);
  if ('default' in schema) return structuredClone(schema.default);
  if (Array.isArray(schema.examples) && schema.examples.length) return structuredClone(schema.examples[0]);
  if ('example' in schema) return structuredClone(schema.example);
  if ('const' in schema) return structuredClone(schema.const);
  if (Array.isArray(schema.enum) && schema.enum.length) return structuredClone(schema.enum[0]);
  for (const key of ['oneOf', 'anyOf'] as const) {
    const first = Array.isArray(schema[key]) ? (schema[key] as unknown[])[0] : undefined;
    if (first !== undefined && typeOf(schema) === undefined) return sampleOf(first, root, depth + 1);
  }
  switch (typeOf(schema)) {
    case 'object':
      return objectSample(schema, root, depth);
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const item = Array.isArray(schema.prefixItems) ? undefined : schema.items;
      return Array.from({ length: min }, () => sampleOf(item, root, depth + 1) ?? null);
    }
    case 'string':
      return stringFor(schema);
    case 'integer':
      return numberFor(schema, true);
    case 'number':
      return numberFor(schema, false);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return Array.isArray(schema.allOf) ? objectSample(schema, root, depth) : undefined;
  }
}

function objectSample(schema: Schema, root: Schema, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  fill(out, schema, root, depth);
  // allOf branches (and if/then on the values chosen so far) add to the same object.
  const branches = [schema, ...(Array.isArray(schema.allOf) ? schema.allOf.filter(isSchema) : [])];
  for (const b of branches) {
    const sub = deref(b, root);
    if (sub !== schema) fill(out, sub, root, depth);
    if (isSchema(sub.if) && isSchema(sub.then) && matches(out, deref(sub.if, root))) fill(out, deref(sub.then, root), root, depth);
  }
  return out;
}

function fill(out: Record<string, unknown>, schema: Schema, root: Schema, depth: number): void {
  const props = isSchema(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  for (const name of required) {
    if (!(name in props) && !(name in out)) out[name] = '';
  }
  for (const [name, raw] of Object.entries(props)) {
    const sub = isSchema(raw) ? deref(raw, root) : {};
    const known = 'default' in sub || 'examples' in sub || 'example' in sub || 'const' in sub;
    if (!required.has(name) && !known) continue;
    if (name in out && isSchema(out[name]) && typeOf(sub) === 'object') {
      // A later branch adds to an object an earlier one started (`user` in the auth schema).
      fill(out[name] as Record<string, unknown>, sub, root, depth + 1);
      continue;
    }
    if (name in out && !(out[name] === '' || (isSchema(out[name]) && Object.keys(out[name] as object).length === 0))) continue;
    const v = sampleOf(sub, root, depth + 1);
    if (v !== undefined) out[name] = v;
  }
}

/** One row of the params table: a top-level property and what constrains it. */
export interface FieldRow {
  name: string;
  type: string;
  required: boolean;
  notes: string[];
}

const NOTE_KEYS = ['minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'pattern', 'format', 'minItems', 'maxItems'];

export function fieldsOf(input: unknown): FieldRow[] {
  if (!isSchema(input)) return [];
  const props = isSchema(input.properties) ? input.properties : {};
  const required = new Set(Array.isArray(input.required) ? (input.required as string[]) : []);
  return Object.entries(props).map(([name, raw]) => {
    const s = isSchema(raw) ? deref(raw, input) : {};
    const notes: string[] = [];
    for (const k of NOTE_KEYS) if (k in s) notes.push(`${k}: ${typeof s[k] === 'string' ? s[k] : JSON.stringify(s[k])}`);
    if (Array.isArray(s.enum)) notes.push(`one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`);
    if ('const' in s) notes.push(`= ${JSON.stringify(s.const)}`);
    if ('default' in s) notes.push(`default ${JSON.stringify(s.default)}`);
    if (typeof s.description === 'string') notes.push(s.description);
    const type = Array.isArray(s.type) ? s.type.join(' | ') : typeof s.type === 'string' ? s.type : Array.isArray(s.enum) ? 'enum' : 'const' in s ? 'const' : (typeOf(s) ?? 'any');
    return { name, type, required: required.has(name), notes };
  });
}

/** Whether the schema says anything beyond "an object" (worth showing). */
export function isTrivial(input: unknown): boolean {
  return !isSchema(input) || Object.keys(input).every((k) => k === 'type' || k === '$schema');
}

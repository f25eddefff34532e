/**
 * A schema moved under another document (a route's params inside one
 * combined schema, or an AsyncAPI document's components): its local `$ref`s
 * (`#/definitions/point`, `#/$defs/x`, `#`) rebased on `base`, the JSON
 * pointer of where it now lives. Other references are left as written.
 */
export function rebaseRefs<T>(schema: T, base: string): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = k === '$ref' && typeof x === 'string' && x.startsWith('#') ? base + x.slice(1) : walk(x);
    return out;
  };
  return walk(schema) as T;
}

/** One JSON pointer token (`~` and `/` escaped, RFC 6901). */
export const pointerToken = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

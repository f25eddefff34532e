/** The value at a dotted path (`['filter', 'from']`) of a plain value; undefined where a step is missing. */
export function valueAt(root: unknown, keys: readonly string[]): unknown {
  let v = root;
  for (let i = 0; i < keys.length; i++) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string, unknown>)[keys[i]!];
  }
  return v;
}

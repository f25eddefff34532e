/**
 * What a value on the wire looks like, as far as the manifest tells: a small
 * type language that `sockey types` prints as TypeScript and `sockey asyncapi`
 * as JSON Schema. Params are the routes' own JSON Schemas; this describes the
 * rest (replies, pushes, the built-in auth and live payloads).
 */
export type Shape =
  | { kind: 'unknown' }
  | { kind: 'never' }
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'null' }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'object'; props: ReadonlyArray<Prop>; open: boolean }
  | { kind: 'array'; items: Shape }
  | { kind: 'union'; of: readonly Shape[] }
  /** A shape with a name of its own: a declared type (TypeScript), a component schema (AsyncAPI). */
  | { kind: 'named'; name: string; shape: Shape; description?: string }
  /** A route's params (or one of them, `key`): what the route's JSON Schema says. */
  | { kind: 'params'; event: string; key?: string; nullable?: boolean }
  /** A route's reply (`res`). */
  | { kind: 'result'; event: string };

export interface Prop {
  name: string;
  shape: Shape;
  optional?: boolean;
  description?: string;
}

export const unknownShape: Shape = { kind: 'unknown' };
export const stringShape: Shape = { kind: 'string' };
export const numberShape: Shape = { kind: 'number' };
export const booleanShape: Shape = { kind: 'boolean' };
export const nullShape: Shape = { kind: 'null' };

export const literal = (value: string | number | boolean): Shape => ({ kind: 'literal', value });
export const arrayOf = (items: Shape): Shape => ({ kind: 'array', items });
export const named = (name: string, shape: Shape, description?: string): Shape => ({ kind: 'named', name, shape, description });

/** An object; `open`: other properties may be there too (of unknown values). */
export function objectOf(props: Record<string, Shape> | Prop[], open = false): Shape {
  const list = Array.isArray(props) ? props : Object.entries(props).map(([name, shape]) => ({ name, shape }));
  return { kind: 'object', props: list, open };
}

/** A union, flattened, without repeats; `unknown` absorbs everything, and one member is itself. */
export function unionOf(...shapes: Shape[]): Shape {
  const flat: Shape[] = [];
  const seen = new Set<string>();
  const add = (s: Shape) => {
    if (s.kind === 'union') return s.of.forEach(add);
    if (s.kind === 'never') return;
    const key = JSON.stringify(s);
    if (seen.has(key)) return;
    seen.add(key);
    flat.push(s);
  };
  shapes.forEach(add);
  if (flat.some((s) => s.kind === 'unknown')) return unknownShape;
  if (flat.length === 0) return { kind: 'never' };
  return flat.length === 1 ? flat[0]! : { kind: 'union', of: flat };
}

export const nullable = (s: Shape): Shape => unionOf(s, nullShape);

/** The shape without `null` (what an `expect:` guarantees of a row). */
export function nonNull(s: Shape): Shape {
  if (s.kind === 'null') return { kind: 'never' };
  if (s.kind === 'union') return unionOf(...s.of.filter((m) => m.kind !== 'null'));
  return s;
}

/** The shape of `value.key` (a template's `{{steps.card.id}}`); unknown where it cannot be told. */
export function propertyOf(s: Shape, key: string): Shape {
  switch (s.kind) {
    case 'named':
      return propertyOf(s.shape, key);
    case 'object': {
      const p = s.props.find((x) => x.name === key);
      return p ? p.shape : unknownShape;
    }
    case 'union': {
      const objects = s.of.filter((m) => m.kind !== 'null');
      return objects.length ? unionOf(...objects.map((m) => propertyOf(m, key))) : unknownShape;
    }
    case 'params':
      return s.key === undefined ? { kind: 'params', event: s.event, key, nullable: true } : unknownShape;
    default:
      return unknownShape;
  }
}

/** The element shape of an array shape (the row of `rows`). */
export function itemsOf(s: Shape): Shape {
  if (s.kind === 'named') return itemsOf(s.shape);
  if (s.kind === 'array') return s.items;
  return unknownShape;
}

/** Every named shape a shape reaches, once each, in the order first met. */
export function namedShapesIn(shapes: Iterable<Shape>): Map<string, Extract<Shape, { kind: 'named' }>> {
  const out = new Map<string, Extract<Shape, { kind: 'named' }>>();
  const walk = (s: Shape) => {
    switch (s.kind) {
      case 'named':
        if (out.has(s.name)) return;
        out.set(s.name, s);
        return walk(s.shape);
      case 'object':
        return s.props.forEach((p) => walk(p.shape));
      case 'array':
        return walk(s.items);
      case 'union':
        return s.of.forEach(walk);
    }
  };
  for (const s of shapes) walk(s);
  return out;
}

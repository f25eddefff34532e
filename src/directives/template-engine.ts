import Mustache from 'mustache';
import { valueAt } from '../core/path.js';

/** What templates render over: `{ params, auth, res, event }`. */
export type TemplateView = Record<string, unknown>;

export interface CompiledTemplate {
  render(view: TemplateView): string;
  /** Dotted names the template reads (`params.room`), for checks. */
  names: string[];
  /** True when the text has no tags: render returns it unchanged. */
  constant: boolean;
}

// One writer for all templates; parsing happens at compile time only.
const writer = new Mustache.Writer();
// Templates fill JSON, event and room names, not HTML: no escaping.
const config = { escape: (value: unknown) => String(value) };

type Token = [string, string, number, number, Token[]?, number?];

/** Parses once; throws mustache's error when the template is malformed. */
export function compileTemplate(text: string): CompiledTemplate {
  const tokens = writer.parse(text) as unknown as Token[];
  const names: string[] = [];
  collectNames(tokens, names);
  if (tokens.every((t) => t[0] === 'text')) {
    return { render: () => text, names, constant: true };
  }
  // Text and plain {{name}}s (most room and event names): precompiled lookups joined, no mustache per message.
  if (tokens.every((t) => t[0] === 'text' || ((t[0] === 'name' || t[0] === '&') && t[1] !== '.'))) {
    const parts = tokens.map((t) => (t[0] === 'text' ? t[1] : compileLookup(t[1])));
    return { render: (view) => join(parts, view), names, constant: false };
  }
  return {
    render: (view) => writer.renderTokens(tokens as never, new Mustache.Context(view), undefined, text, config as never),
    names,
    constant: false,
  };
}

function collectNames(tokens: Token[], out: string[]): void {
  for (const t of tokens) {
    if (t[0] === 'name' || t[0] === '&' || t[0] === '#' || t[0] === '^') out.push(t[1]);
    if (t[4]) collectNames(t[4], out);
  }
}

/** A template that is exactly one `{{name}}` (or `{{{name}}}`): a reply leaf that keeps the value's type. */
export const EXACT_TAG = /^\{\{\{?\s*([A-Za-z_$][\w$]*(?:\.[\w$]+)*)\s*\}?\}\}$/;

function compileLookup(dotted: string): (view: TemplateView) => unknown {
  const keys = dotted.split('.');
  if (keys.length === 2) {
    const [a, b] = keys as [string, string];
    return (view) => {
      const v = (view[a] as Record<string, unknown> | null | undefined)?.[b];
      return v === undefined ? null : v;
    };
  }
  return (view) => {
    const v = valueAt(view, keys);
    return v === undefined ? null : v;
  };
}

/** What mustache renders for a {{name}} (no escaping here): nothing for null and undefined, else String(v). */
function join(parts: ReadonlyArray<string | ((view: TemplateView) => unknown)>, view: TemplateView): string {
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (typeof p === 'string') out += p;
    else {
      const v = p(view);
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- what mustache renders for any value
      if (v !== null && v !== undefined) out += String(v);
    }
  }
  return out;
}

export interface CompiledValue {
  render(view: TemplateView): unknown;
  names: string[];
  constant: boolean;
}

/**
 * A reply template: every string leaf is a mustache template; a leaf that is
 * exactly `{{name}}` keeps the value's type. `onError` gets a leaf's path and error.
 */
export function compileValueTemplate(value: unknown, onError: (path: (string | number)[], e: Error) => void, at: (string | number)[] = []): CompiledValue {
  if (typeof value === 'string') {
    const exact = EXACT_TAG.exec(value);
    if (exact) return { render: compileLookup(exact[1]!), names: [exact[1]!], constant: false };
    try {
      const t = compileTemplate(value);
      return { render: t.render, names: t.names, constant: t.constant };
    } catch (e) {
      onError(at, e as Error);
      return { render: () => value, names: [], constant: true };
    }
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileValueTemplate(v, onError, [...at, i]));
    if (items.every((i) => i.constant)) return constantValue(value, items);
    return { render: (view) => items.map((i) => i.render(view)), names: items.flatMap((i) => i.names), constant: false };
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, compileValueTemplate(v, onError, [...at, k])] as const);
    if (entries.every(([, c]) => c.constant))
      return constantValue(
        value,
        entries.map(([, c]) => c),
      );
    return {
      render: (view) => {
        const out: Record<string, unknown> = {};
        for (const [k, c] of entries) out[k] = c.render(view);
        return out;
      },
      names: entries.flatMap(([, c]) => c.names),
      constant: false,
    };
  }
  return { render: () => value, names: [], constant: true };
}

function constantValue(value: unknown, parts: CompiledValue[]): CompiledValue {
  // A frozen copy: one object answers every call, and the manifest's own data stays as loaded.
  const frozen = deepFreeze(structuredClone(value));
  return { render: () => frozen, names: parts.flatMap((p) => p.names), constant: true };
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

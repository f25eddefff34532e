import type { ManifestPath } from '../manifest/diagnostics.js';
import type { RawRoute } from '../manifest/types.js';

/**
 * Stand-ins for values the JSON Schema refused, chosen so that they cause no
 * problem of their own: the rest of the route is still checked (every
 * problem in one run), and what the stand-in would report is dropped.
 * `undefined` removes the key.
 */
const STAND_INS: Record<string, unknown> = {
  // The most permissive mode: checks of :auth.* and `to: user` stay quiet.
  auth: 'required',
  // An unknown schema declares nothing, so no :name is reported against it.
  params: true,
  sql: 'SELECT 1',
  every: '1s',
  after: '1s',
  emit: 'self',
};

/** A route with every refused value replaced, and the paths whose problems are already reported. */
export interface RepairedRoute {
  raw: RawRoute;
  /** Problems at or below these paths are the schema's to report. */
  refused: ManifestPath[];
}

/**
 * `refused` are the schema problems' paths inside this route (`['routes', event, key, ...]`).
 * Returns undefined when the route itself is not a usable object.
 */
export function repairRoute(raw: unknown, at: ManifestPath, refused: ManifestPath[]): RepairedRoute | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const route = { ...(raw as Record<string, unknown>) };
  const timers = Array.isArray(route.timers) ? (route.timers as unknown[]).map((t) => (isObject(t) ? { ...t } : t)) : undefined;
  if (timers) route.timers = timers;
  const kept: ManifestPath[] = [];
  for (const p of refused) {
    const rel = p.slice(at.length);
    const key = String(rel[0] ?? '');
    if (rel.length === 0) return undefined;
    if (key === 'timers' && timers && rel.length >= 2) {
      const i = Number(rel[1]);
      if (rel.length === 2 || !isObject(timers[i])) {
        timers[i] = { every: '1s', reply: null };
        kept.push(p.slice(0, at.length + 2));
      } else {
        replace(timers[i] as Record<string, unknown>, String(rel[2]));
        kept.push(p.slice(0, at.length + 3));
      }
      continue;
    }
    replace(route, key);
    kept.push(p.slice(0, at.length + 1));
  }
  return { raw: route as RawRoute, refused: kept };
}

function replace(entry: Record<string, unknown>, key: string): void {
  const actionRefused = key === 'hook' || key === 'sql' || key === 'reply';
  if (key in STAND_INS) entry[key] = STAND_INS[key];
  else delete entry[key];
  // A refused hook leaves a route with no action: a null reply stands in, so "no action" is not reported.
  if (actionRefused && entry.sql === undefined && entry.hook === undefined && entry.reply === undefined) entry.reply = null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `path` is at or below one of `prefixes`. */
export function isUnder(path: ManifestPath, prefixes: readonly ManifestPath[]): boolean {
  return prefixes.some((p) => p.length <= path.length && p.every((seg, i) => String(seg) === String(path[i])));
}

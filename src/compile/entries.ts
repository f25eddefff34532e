import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatPath, type ManifestPath } from '../manifest/diagnostics.js';
import { isSqlFile } from '../manifest/files.js';
import type { DiagnosticSink, ManifestSource } from '../manifest/load.js';
import type { RawAction, RawManifest, RawRoute } from '../manifest/types.js';
import { repairRoute } from './refused.js';

/** socket.io reserves these names; a route cannot use them. */
export const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** Routes that ship with sockey (the auth route), compiled like user routes. */
export interface BuiltinRoutes {
  /** Manifest path the built-ins' problems point at (e.g. ['auth']). */
  at: ManifestPath;
  routes: Record<string, RawRoute>;
}

/** One route to compile: its entry (SQL files read in), where it is, whether it is built in. */
export interface RouteEntry {
  event: string;
  raw: RawRoute;
  at: ManifestPath;
  builtin: boolean;
}

/**
 * The routes of a manifest, built-ins first, each once: a route whose values
 * the schema refused is repaired (`refusedIn`: its problem paths) so the rest
 * of it is still checked; `refusedPaths` collects what the stand-ins cover.
 * SQL files are read, and added to `files` (to watch).
 */
export function routeEntries(
  source: ManifestSource,
  builtins: readonly BuiltinRoutes[],
  refusedIn: ReadonlyMap<string, ManifestPath[]>,
  sink: DiagnosticSink,
  files: Set<string>,
  refusedPaths: ManifestPath[],
): RouteEntry[] {
  const entries: RouteEntry[] = [];
  const seen = new Set<string>();
  for (const b of builtins) {
    for (const [event, raw] of Object.entries(b.routes)) {
      if (seen.has(event)) continue;
      seen.add(event);
      entries.push({ event, raw, at: b.at, builtin: true });
    }
  }
  for (const [event, written] of Object.entries((source.data as RawManifest).routes ?? {})) {
    const at = ['routes', event];
    let raw = written;
    const refused = refusedIn.get(event);
    if (refused) {
      const repaired = repairRoute(written, at, refused);
      if (!repaired) continue;
      raw = repaired.raw;
      refusedPaths.push(...repaired.refused);
    }
    if (RESERVED_EVENTS.has(event)) sink.error('RESERVED_EVENT', at, `"${event}" is reserved by socket.io; choose another event name`, { at: 'key' });
    else if (seen.has(event)) sink.error('RESERVED_EVENT', at, `"${event}" is the built-in auth event; rename auth.event or this route`, { at: 'key' });
    if (seen.has(event)) continue;
    seen.add(event);
    entries.push({ event, raw: resolveGuard(readSqlFiles(raw, source, at, sink, files), (source.data as RawManifest).guards, at, sink), at, builtin: false });
  }
  return entries;
}

/** A name: what `guard:` holds when it names one of `guards:` (SQL always has a space or a parenthesis). */
const GUARD_NAME = /^[A-Za-z_][\w.-]*$/;

/**
 * `guard:` resolved into `{ sql | hook, from }`: a name becomes the guard it
 * names (so a change to it changes the route's fingerprint), inline SQL and
 * `{ hook }` stay as written.
 */
function resolveGuard(raw: RawRoute, guards: RawManifest['guards'], at: ManifestPath, sink: DiagnosticSink): RawRoute {
  const g = raw.guard;
  if (g === undefined || typeof g !== 'string') return raw;
  if (!GUARD_NAME.test(g)) return { ...raw, guard: { sql: g } };
  const named = guards?.[g];
  if (named === undefined) {
    const known = Object.keys(guards ?? {});
    sink.error('GUARD', [...at, 'guard'], `no guard named "${g}" under guards:${known.length ? ` (there are: ${known.join(', ')})` : ''}`);
    return { ...raw, guard: undefined };
  }
  return { ...raw, guard: typeof named === 'string' ? { sql: named, from: g } : { hook: named.hook, from: g } };
}

/** A `sql:` that is a path ending in .sql is read from that file (relative to the manifest). */
export function readSqlFiles(raw: RawRoute, source: ManifestSource, at: ManifestPath, sink: DiagnosticSink, files: Set<string>): RawRoute {
  const read = <T extends RawAction['sql']>(sql: T, p: ManifestPath): T => {
    if (sql === undefined) return sql;
    if (Array.isArray(sql)) return sql.map((s, i) => (typeof s === 'string' ? readOne(s, [...p, i]) : { ...s, sql: readOne(s.sql, [...p, i, 'sql']) })) as T;
    return readOne(sql as string, p) as T;
  };
  const readOne = (sql: string, p: ManifestPath): string => {
    if (!isSqlFile(sql)) return sql;
    const file = path.resolve(source.dir, sql);
    files.add(file);
    try {
      const text = readFileSync(file, 'utf8');
      // Problems in the statement point at the SQL file's own line:col.
      source.included.set(formatPath(p), { file: path.join(path.dirname(source.file), sql), text });
      return text.trim().replace(/;\s*$/, '');
    } catch {
      sink.error('FILE_NOT_FOUND', p, `SQL file ${sql} cannot be read`);
      return 'SELECT NULL';
    }
  };
  const withTimers = raw.timers?.map((t, i) => ({ ...t, sql: read(t.sql, [...at, 'timers', i, 'sql']) }));
  return { ...raw, sql: read(raw.sql, [...at, 'sql']), ...(withTimers ? { timers: withTimers } : {}) };
}

/** The hook specs (`path#export`) of routes and their timers. */
export function hookSpecs(raws: readonly RawRoute[]): string[] {
  const specs = new Set<string>();
  for (const raw of raws) {
    for (const a of [raw, ...(raw.timers ?? [])]) if (typeof a.hook === 'string') specs.add(a.hook);
    if (typeof raw.guard === 'object' && raw.guard.hook) specs.add(raw.guard.hook);
  }
  return [...specs];
}

export function usesDatabase(raw: RawRoute): boolean {
  return raw.guard !== undefined || [raw, ...(raw.timers ?? [])].some((a) => a.sql !== undefined || a.hook !== undefined);
}

/** A hook route changes when any module the hooks loaded changes (their imports included). */
export function usesHook(raw: RawRoute): boolean {
  return (typeof raw.guard === 'object' && raw.guard.hook !== undefined) || [raw, ...(raw.timers ?? [])].some((a) => typeof a.hook === 'string');
}

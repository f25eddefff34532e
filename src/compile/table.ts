import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Driver } from '../db/driver.js';
import type { DirectiveContext } from '../directives/context.js';
import { HookLoader, type LoadedHook } from '../directives/hook-loader.js';
import { hasErrors, type Diagnostic, type ManifestPath } from '../manifest/diagnostics.js';
import { DiagnosticSink, loadManifest, type ManifestSource } from '../manifest/load.js';
import { checkSchema } from '../manifest/schema.js';
import { resolveSettings, type Settings } from '../manifest/settings.js';
import type { RawAction, RawManifest, RawRoute } from '../manifest/types.js';
import { createHookQuery } from '../runtime/hook-context.js';
import { isSqlFile } from './files.js';
import { compileRoute } from './route.js';
import type { Route } from './types.js';

/** socket.io reserves these names; a route cannot use them. */
export const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** Routes that ship with sockey (the auth route), compiled like user routes. */
export interface BuiltinRoutes {
  /** Manifest path the built-ins' problems point at (e.g. ['auth']). */
  at: ManifestPath;
  routes: Record<string, RawRoute>;
}

export type BuiltinProvider = (settings: Settings, driver: Driver | undefined) => BuiltinRoutes | undefined;

export interface CompileOptions {
  /** The open database; absent when only validating. */
  driver?: Driver;
  env?: NodeJS.ProcessEnv;
  /** Missing {{env.X}} are errors (serve) or warnings (validate). */
  strictEnv?: boolean;
  builtins?: BuiltinProvider;
  /** The table serving now, on the same database: unchanged routes are reused, not compiled again. */
  previous?: RouteTable;
}

/** A manifest compiled: one immutable table of routes, swapped whole on reload. */
export interface RouteTable {
  readonly routes: ReadonlyMap<string, Route>;
  readonly settings: Settings;
  /** Files a watcher should watch: the manifest, SQL files, hook modules and what they import. */
  readonly files: readonly string[];
  /** Every SQL statement (with `?` placeholders) and where it is declared, for `validate --db`. */
  readonly statements: ReadonlyArray<{ event: string; path: ManifestPath; text: string }>;
  /** Messages under way on this table's database (shared by tables on the same database), to drain it before closing. */
  readonly load: { inflight: number };
}

export interface CompileResult {
  table?: RouteTable;
  settings?: Settings;
  source?: ManifestSource;
  diagnostics: Diagnostic[];
}

export async function compileManifestFile(file: string, cwd: string, options: CompileOptions = {}): Promise<CompileResult> {
  const loaded = loadManifest(file, cwd);
  if (!loaded.source || hasErrors(loaded.diagnostics)) return { diagnostics: loaded.diagnostics, source: loaded.source };
  const result = await compileSource(loaded.source, options);
  return { ...result, diagnostics: [...loaded.diagnostics, ...result.diagnostics] };
}

/** Only settings (for opening the database before compiling routes). */
export function readSettings(source: ManifestSource, options: CompileOptions = {}): { settings?: Settings; diagnostics: Diagnostic[] } {
  const sink = new DiagnosticSink(source);
  if (!checkSchema(source.data, sink)) return { diagnostics: sink.list };
  const settings = resolveSettings(source.data as RawManifest, source.dir, options.env ?? process.env, sink, options.strictEnv ?? true);
  return { settings, diagnostics: sink.list };
}

export async function compileSource(source: ManifestSource, options: CompileOptions = {}): Promise<CompileResult> {
  const sink = new DiagnosticSink(source);
  // Problems inside a route's entry skip that route only, so the rest is still checked (every problem at once).
  const broken = new Set<string>();
  if (!checkSchema(source.data, sink)) {
    for (const d of sink.list) {
      if (d.path[0] !== 'routes' || d.path.length < 2) return { diagnostics: sink.list, source };
      broken.add(String(d.path[1]));
    }
  }
  const manifest = source.data as RawManifest;
  const settings = resolveSettings(manifest, source.dir, options.env ?? process.env, sink, options.strictEnv ?? true);
  const files = new Set<string>([source.absPath, ...settings.database.schema]);

  const userRoutes = manifest.routes ?? {};
  const builtins = options.builtins?.(settings, options.driver);
  const entries: Array<{ event: string; raw: RawRoute; at: ManifestPath; builtin: boolean }> = [];
  for (const [event, raw] of Object.entries(builtins?.routes ?? {})) entries.push({ event, raw, at: builtins!.at, builtin: true });
  for (const [event, raw] of Object.entries(userRoutes)) {
    if (broken.has(event)) continue;
    const at = ['routes', event];
    if (RESERVED_EVENTS.has(event)) sink.error('RESERVED_EVENT', at, `"${event}" is reserved by socket.io; choose another event name`, { at: 'key' });
    else if (builtins?.routes[event]) sink.error('RESERVED_EVENT', at, `"${event}" is the built-in auth event; rename auth.event or this route`, { at: 'key' });
    entries.push({ event, raw: readSqlFiles(raw, source.dir, at, sink, files), at, builtin: false });
  }

  const loader = new HookLoader(source.dir);
  const hooks = await loadHooks(entries.map((e) => e.raw), loader);
  for (const f of loader.files) files.add(f);

  const query = createHookQuery(options.driver);
  const base: Omit<DirectiveContext, 'auth' | 'paramNames' | 'event' | 'at' | 'builtin'> = { sink, settings, dialect: settings.database.driver, db: options.driver };
  // What routes depend on besides their own entry: a change here changes them too.
  const shared = JSON.stringify([settings.socket, settings.server.rateLimit]);
  const dbShared = JSON.stringify([settings.database, settings.auth]);
  const hookSources = [...loader.files].sort().map((f) => readText(f)).join('\0');
  const routes = new Map<string, Route>();
  const statements: Array<{ event: string; path: ManifestPath; text: string }> = [];
  for (const { event, raw, at, builtin } of entries) {
    if (routes.has(event)) continue;
    const fingerprint = JSON.stringify(raw, (_k, v) => (typeof v === 'function' ? `fn:${v.name}` : v)) + shared + (usesDatabase(raw) || builtin ? dbShared : '') + hookFingerprint(raw, hookSources);
    const old = options.previous?.routes.get(event);
    if (old && old.fingerprint === fingerprint) {
      routes.set(event, old);
      for (const st of options.previous!.statements) if (st.event === event) statements.push(st);
      continue;
    }
    const { route, statements: texts } = compileRoute(event, raw, { ...base, at, builtin }, { hooks, query, fingerprint });
    routes.set(event, route);
    for (const st of texts) statements.push({ event, ...st });
  }
  if (hasErrors(sink.list)) return { diagnostics: sink.list, settings, source };
  const load = options.previous?.load ?? { inflight: 0 };
  return { table: Object.freeze({ routes, settings, files: [...files], statements, load }), settings, diagnostics: sink.list, source };
}

/** A `sql:` that is a path ending in .sql is read from that file (relative to the manifest). */
function readSqlFiles(raw: RawRoute, dir: string, at: ManifestPath, sink: DiagnosticSink, files: Set<string>): RawRoute {
  const read = (sql: string | string[] | undefined, p: ManifestPath): string | string[] | undefined => {
    if (sql === undefined) return undefined;
    if (Array.isArray(sql)) return sql.map((s, i) => read(s, [...p, i]) as string);
    if (!isSqlFile(sql)) return sql;
    const file = path.resolve(dir, sql);
    files.add(file);
    try {
      return readFileSync(file, 'utf8').trim().replace(/;\s*$/, '');
    } catch {
      sink.error('FILE_NOT_FOUND', p, `SQL file ${sql} cannot be read`);
      return 'SELECT NULL';
    }
  };
  const withTimers = raw.timers?.map((t, i) => ({ ...t, sql: read(t.sql, [...at, 'timers', i, 'sql']) }));
  return { ...raw, sql: read(raw.sql, [...at, 'sql']), ...(withTimers ? { timers: withTimers } : {}) };
}

async function loadHooks(raws: RawRoute[], loader: HookLoader): Promise<Map<string, LoadedHook>> {
  const specs = new Set<string>();
  const add = (a: RawAction) => {
    if (typeof a.hook === 'string') specs.add(a.hook);
  };
  for (const raw of raws) {
    add(raw);
    raw.timers?.forEach(add);
  }
  const hooks = new Map<string, LoadedHook>();
  await Promise.all([...specs].map(async (spec) => hooks.set(spec, await loader.load(spec))));
  return hooks;
}

function usesDatabase(raw: RawRoute): boolean {
  return [raw, ...(raw.timers ?? [])].some((a) => a.sql !== undefined || a.hook !== undefined);
}

/** A hook route changes when any module the hooks loaded changes (their imports included). */
function hookFingerprint(raw: RawRoute, hookSources: string): string {
  const usesHook = typeof raw.hook === 'string' || (raw.timers ?? []).some((t) => typeof t.hook === 'string');
  return usesHook ? hookSources : '';
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

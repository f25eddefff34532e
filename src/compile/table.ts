import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LocatedStatement } from '../db/check.js';
import type { Driver } from '../db/driver.js';
import type { DirectiveContext } from '../directives/context.js';
import { HookLoader } from './hook-loader.js';
import type { LoadedHook } from '../directives/hook.js';
import { formatPath, hasErrors, type Diagnostic, type ManifestPath } from '../manifest/diagnostics.js';
import { DiagnosticSink, loadManifest, type ManifestSource } from '../manifest/load.js';
import { checkSchema } from '../manifest/schema.js';
import { resolveSettings, type Settings } from '../manifest/settings.js';
import type { RawManifest, RawRoute } from '../manifest/types.js';
import { createHookQuery } from '../directives/hook-context.js';
import { isSqlFile } from '../manifest/files.js';
import { isUnder, repairRoute } from './refused.js';
import { compileRoute } from './route.js';
import type { Route } from '../core/route.js';

/** socket.io reserves these names; a route cannot use them. */
export const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** Routes that ship with sockey (the auth route), compiled like user routes. */
export interface BuiltinRoutes {
  /** Manifest path the built-ins' problems point at (e.g. ['auth']). */
  at: ManifestPath;
  routes: Record<string, RawRoute>;
}

/** The built-ins of one plugin (none when it is off), or of several, for a manifest's settings. */
export type BuiltinProvider = (settings: Settings, driver: Driver | undefined) => BuiltinRoutes | BuiltinRoutes[] | undefined;

export interface CompileOptions {
  /** The open database; absent when only validating. */
  driver?: Driver;
  env?: NodeJS.ProcessEnv;
  /** Missing {{env.X}} are errors (serve) or warnings (validate). */
  strictEnv?: boolean;
  builtins?: BuiltinProvider;
  /** The table serving now, on the same database: unchanged routes are reused, not compiled again. */
  previous?: RouteTable;
  /** Settings already checked against the schema and resolved (the server did it to open the database). */
  settings?: Settings;
}

/** A manifest compiled: one immutable table of routes, swapped whole on reload. */
export interface RouteTable {
  readonly routes: ReadonlyMap<string, Route>;
  readonly settings: Settings;
  /** Files a watcher should watch: the manifest, SQL files, hook modules and what they import. */
  readonly files: readonly string[];
  /** The hook modules and everything they imported: their sources are part of hook routes' fingerprints. */
  readonly hookFiles: readonly string[];
  /** Every SQL statement (with `?` placeholders) and where it is declared, for `validate --db`. */
  readonly statements: readonly LocatedStatement[];
  /** Messages under way on this table's database (shared by tables on the same database), to drain it before closing. */
  readonly load: { inflight: number };
}

export interface CompileResult {
  table?: RouteTable;
  settings?: Settings;
  source?: ManifestSource;
  diagnostics: Diagnostic[];
  /** Every statement that compiled, also when other parts have problems (`validate --db` prepares them all). */
  statements?: RouteTable['statements'];
}

export async function compileManifestFile(file: string, cwd: string, options: CompileOptions = {}): Promise<CompileResult> {
  const loaded = loadManifest(file, cwd);
  // A file with only duplicate keys still has data: its other problems are reported too.
  if (!loaded.source || loaded.source.data === undefined) return { diagnostics: loaded.diagnostics, source: loaded.source };
  const result = await compileSource(loaded.source, options);
  if (hasErrors(loaded.diagnostics)) return { ...result, table: undefined, diagnostics: [...loaded.diagnostics, ...result.diagnostics] };
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
  // A schema problem inside a route refuses that value only: the rest of the route is still checked (every problem at once).
  const refusedIn = new Map<string, ManifestPath[]>();
  if (!options.settings && !checkSchema(source.data, sink)) {
    for (const d of sink.list) {
      if (d.path[0] !== 'routes' || d.path.length < 2) return { diagnostics: sink.list, source };
      const event = String(d.path[1]);
      refusedIn.set(event, [...(refusedIn.get(event) ?? []), d.path]);
    }
  }
  const refusedPaths: ManifestPath[] = [];
  const manifest = source.data as RawManifest;
  const settings = options.settings ?? resolveSettings(manifest, source.dir, options.env ?? process.env, sink, options.strictEnv ?? true);
  const files = new Set<string>([source.absPath, ...settings.database.schema]);

  const userRoutes = manifest.routes ?? {};
  const provided = options.builtins?.(settings, options.driver);
  const builtins = provided === undefined ? [] : Array.isArray(provided) ? provided : [provided];
  const entries: Array<{ event: string; raw: RawRoute; at: ManifestPath; builtin: boolean }> = [];
  for (const b of builtins) for (const [event, raw] of Object.entries(b.routes)) entries.push({ event, raw, at: b.at, builtin: true });
  for (const [event, written] of Object.entries(userRoutes)) {
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
    else if (builtins.some((b) => b.routes[event])) sink.error('RESERVED_EVENT', at, `"${event}" is the built-in auth event; rename auth.event or this route`, { at: 'key' });
    entries.push({ event, raw: readSqlFiles(raw, source, at, sink, files), at, builtin: false });
  }

  // Fingerprint every route first: an unchanged one is taken over from the previous table, and hook
  // modules are imported only for routes that are compiled (an import is a fresh tsx namespace).
  const loader = new HookLoader(source.dir);
  const specFiles = hookSpecs(entries.map((e) => e.raw)).map((spec) => loader.resolve(spec).file);
  const knownHookFiles = new Set([...(options.previous?.hookFiles ?? []), ...specFiles]);
  // What routes depend on besides their own entry: a change here changes them too.
  const shared = JSON.stringify([settings.socket, settings.server.rateLimit]);
  const dbShared = JSON.stringify([settings.database, settings.auth]);
  const fingerprintOf = (raw: RawRoute, builtin: boolean, hookSources: string) =>
    JSON.stringify(raw, (_k, v) => (typeof v === 'function' ? `fn:${v.name}` : v)) + shared + (usesDatabase(raw) || builtin ? dbShared : '') + (usesHook(raw) ? hookSources : '');
  const knownSources = sourcesOf(knownHookFiles);
  const seen = new Set<string>();
  let plans = entries.filter((e) => !seen.has(e.event) && Boolean(seen.add(e.event))).map((e) => ({ ...e, fingerprint: fingerprintOf(e.raw, e.builtin, knownSources) }));
  // Routes sharing a hook module are compiled together, so they keep sharing one module instance.
  const unchanged = (p: (typeof plans)[number]) => options.previous?.routes.get(p.event)?.fingerprint === p.fingerprint;
  const reloadedModules = new Set(plans.filter((p) => !unchanged(p)).flatMap((p) => hookSpecs([p.raw]).map((spec) => loader.resolve(spec).file)));
  const reusable = (p: (typeof plans)[number]) => unchanged(p) && !hookSpecs([p.raw]).some((spec) => reloadedModules.has(loader.resolve(spec).file));
  const stale = plans.filter((p) => !reusable(p));
  const hooks = await loadHooks(stale.map((p) => p.raw), loader);
  // A compiled hook may import files no fingerprint has seen yet: count them in.
  if ([...loader.files].some((f) => !knownHookFiles.has(f))) {
    const allSources = sourcesOf(new Set([...knownHookFiles, ...loader.files]));
    plans = plans.map((p) => (reusable(p) ? p : { ...p, fingerprint: fingerprintOf(p.raw, p.builtin, allSources) }));
  }
  const reusedHookRoute = plans.some((p) => usesHook(p.raw) && reusable(p));
  const hookFiles = reusedHookRoute ? new Set([...knownHookFiles, ...loader.files]) : loader.files;
  for (const f of hookFiles) files.add(f);

  const query = createHookQuery(options.driver);
  const base: Omit<DirectiveContext, 'auth' | 'paramNames' | 'paramsClosed' | 'event' | 'at' | 'builtin'> = { sink, settings, dialect: settings.database.driver, db: options.driver };
  const routes = new Map<string, Route>();
  const statements: LocatedStatement[] = [];
  for (const plan of plans) {
    const { event, raw, at, builtin, fingerprint } = plan;
    const old = options.previous?.routes.get(event);
    if (old && reusable(plan)) {
      routes.set(event, old);
      for (const st of options.previous!.statements) if (st.event === event) statements.push(st);
      continue;
    }
    const { route, statements: texts } = compileRoute(event, raw, { ...base, at, builtin }, { hooks, query, fingerprint });
    routes.set(event, route);
    for (const st of texts) statements.push({ event, ...st });
  }
  // What a stand-in for a refused value reported, the schema already said.
  const diagnostics = refusedPaths.length ? sink.list.filter((d) => d.code === 'SCHEMA' || !isUnder(d.path, refusedPaths)) : sink.list;
  if (hasErrors(diagnostics)) return { diagnostics, settings, source, statements };
  const load = options.previous?.load ?? { inflight: 0 };
  return { table: Object.freeze({ routes, settings, files: [...files], hookFiles: [...hookFiles], statements, load }), settings, diagnostics, source, statements };
}

/** A `sql:` that is a path ending in .sql is read from that file (relative to the manifest). */
function readSqlFiles(raw: RawRoute, source: ManifestSource, at: ManifestPath, sink: DiagnosticSink, files: Set<string>): RawRoute {
  const read = (sql: string | string[] | undefined, p: ManifestPath): string | string[] | undefined => {
    if (sql === undefined) return undefined;
    if (Array.isArray(sql)) return sql.map((s, i) => read(s, [...p, i]) as string);
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
function hookSpecs(raws: RawRoute[]): string[] {
  const specs = new Set<string>();
  for (const raw of raws) for (const a of [raw, ...(raw.timers ?? [])]) if (typeof a.hook === 'string') specs.add(a.hook);
  return [...specs];
}

async function loadHooks(raws: RawRoute[], loader: HookLoader): Promise<Map<string, LoadedHook>> {
  const hooks = new Map<string, LoadedHook>();
  await Promise.all(hookSpecs(raws).map(async (spec) => hooks.set(spec, await loader.load(spec))));
  return hooks;
}

function usesDatabase(raw: RawRoute): boolean {
  return [raw, ...(raw.timers ?? [])].some((a) => a.sql !== undefined || a.hook !== undefined);
}

/** A hook route changes when any module the hooks loaded changes (their imports included). */
function usesHook(raw: RawRoute): boolean {
  return [raw, ...(raw.timers ?? [])].some((a) => typeof a.hook === 'string');
}

function sourcesOf(files: Iterable<string>): string {
  return [...files].sort().map(readText).join('\0');
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

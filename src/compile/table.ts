import { createHash } from 'node:crypto';
import type { Route } from '../core/route.js';
import type { LocatedStatement } from '../db/check.js';
import type { Driver } from '../db/driver.js';
import type { LoadedHook } from '../directives/context.js';
import { createHookQuery } from '../directives/hook-context.js';
import { hasErrors, type Diagnostic, type ManifestPath } from '../manifest/diagnostics.js';
import { DiagnosticSink, loadManifest, type ManifestSource } from '../manifest/load.js';
import { checkSchema } from '../manifest/schema.js';
import { resolveSettings, type Settings } from '../manifest/settings.js';
import type { RawManifest } from '../manifest/types.js';
import { hookSpecs, routeEntries, usesHook, type BuiltinRoutes, type RouteEntry } from './entries.js';
import { Fingerprints } from './fingerprint.js';
import { HookLoader } from './hook-loader.js';
import type { ClusterLink } from '../cluster/link.js';
import { isUnder } from './refused.js';
import { compileRoute } from './route.js';
import type { SchedulePlan } from '../core/schedule.js';
import { compileSchedules } from './schedules.js';
import { sqlTablesFor } from '../db/sql-tables.js';
export { RESERVED_EVENTS, type BuiltinRoutes } from './entries.js';

/** The built-in routes for a manifest's settings (pipeline/plugin.ts gathers them from the plugins). */
export type BuiltinProvider = (settings: Settings, driver: Driver | undefined, routes: RawManifest['routes']) => BuiltinRoutes[];

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
  /** The node's link to the cluster's Redis, when serving with `cluster:`. */
  cluster?: ClusterLink;
}

/** A manifest compiled: one immutable table of routes, swapped whole on reload. */
export interface RouteTable {
  readonly routes: ReadonlyMap<string, Route>;
  /** The top-level `schedules:`, by name (SPEC §6). */
  readonly schedules: ReadonlyMap<string, SchedulePlan>;
  readonly settings: Settings;
  /** Files a watcher should watch: the manifest, SQL files, hook modules and what they import. */
  readonly files: readonly string[];
  /** The hook modules and everything they imported: their sources are part of hook routes' fingerprints. */
  readonly hookFiles: readonly string[];
  /** Every SQL statement (with `?` placeholders) and where it is declared, for `validate --db`. */
  readonly statements: readonly LocatedStatement[];
  /** Messages under way on this table's database (shared by tables on the same database), to drain it before closing. */
  readonly load: { inflight: number };
  /** A short hash of the manifest's text and every route's fingerprint: which version a node serves (/healthz, logs). */
  readonly version: string;
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

/**
 * A manifest source compiled into a table, in steps: check the schema (a
 * refused value in a route is repaired, not fatal), resolve the settings,
 * list the routes, decide which the previous table can hand over unchanged
 * (by fingerprint), import the hook modules of the others, compile them.
 */
export async function compileSource(source: ManifestSource, options: CompileOptions = {}): Promise<CompileResult> {
  const sink = new DiagnosticSink(source);
  const refusedIn = new Map<string, ManifestPath[]>();
  /** Schedules the schema refused: reported, left out, the rest still checked. */
  const refusedSchedules = new Set<string>();
  if (!options.settings && !checkSchema(source.data, sink)) {
    for (const d of sink.list) {
      if (d.path[0] === 'schedules' && d.path.length >= 2) {
        refusedSchedules.add(String(d.path[1]));
        continue;
      }
      // Routes compile against the settings: a problem outside routes stops here.
      if (d.path[0] !== 'routes' || d.path.length < 2) return { diagnostics: sink.list, source };
      const event = String(d.path[1]);
      refusedIn.set(event, [...(refusedIn.get(event) ?? []), d.path]);
    }
  }
  const settings = options.settings ?? resolveSettings(source.data as RawManifest, source.dir, options.env ?? process.env, sink, options.strictEnv ?? true);
  const files = new Set<string>([source.absPath, ...settings.database.schema]);
  const builtins = options.builtins?.(settings, options.driver, (source.data as RawManifest).routes) ?? [];
  const refusedPaths: ManifestPath[] = [];
  const entries = routeEntries(source, builtins, refusedIn, sink, files, refusedPaths);

  const loader = new HookLoader(source.dir);
  const fingerprints = new Fingerprints(settings);
  const plan = await planRoutes(entries, loader, fingerprints, options.previous);
  for (const f of plan.hookFiles) files.add(f);

  // The SQL parser is loaded only for an app with live routes.
  const sqlTables = entries.some((e) => e.raw.live !== undefined && e.raw.live !== false) ? sqlTablesFor(settings.database.driver) : undefined;
  const base = { sink, settings, dialect: settings.database.driver, db: options.driver, hooks: plan.hooks, query: createHookQuery(options.driver), cluster: options.cluster, sqlTables };
  const routes = new Map<string, Route>();
  const statements: LocatedStatement[] = [];
  for (const { entry, fingerprint, reuse } of plan.routes) {
    if (reuse) {
      routes.set(entry.event, reuse);
      for (const st of options.previous!.statements) if (st.event === entry.event) statements.push(st);
      continue;
    }
    const { route, statements: texts } = compileRoute(entry.event, entry.raw, { ...base, at: entry.at, builtin: entry.builtin }, fingerprint);
    routes.set(entry.event, route);
    for (const st of texts) statements.push({ event: entry.event, ...st });
  }
  const scheduled = await compileSchedules(source, base, sink, files, loader, fingerprints, options.previous, refusedSchedules);
  statements.push(...scheduled.statements);
  const hookFiles = new Set([...plan.hookFiles, ...scheduled.hookFiles]);
  for (const f of hookFiles) files.add(f);
  // What a stand-in for a refused value reported, the schema already said.
  const diagnostics = refusedPaths.length ? sink.list.filter((d) => d.code === 'SCHEMA' || !isUnder(d.path, refusedPaths)) : sink.list;
  if (hasErrors(diagnostics)) return { diagnostics, settings, source, statements };
  const load = options.previous?.load ?? { inflight: 0 };
  const version = versionHash(source.text, routes, scheduled.schedules);
  const schedules = scheduled.schedules;
  return { table: Object.freeze({ routes, schedules, settings, files: [...files], hookFiles: [...hookFiles], statements, load, version }), settings, diagnostics, source, statements };
}

interface RoutePlan {
  routes: Array<{ entry: RouteEntry; fingerprint: string; reuse?: Route }>;
  hooks: Map<string, LoadedHook>;
  /** The hook modules and what they import: watched, and part of hook routes' fingerprints. */
  hookFiles: Set<string>;
}

/**
 * Which routes the previous table hands over and which are compiled. Hook
 * modules are imported only for the latter (an import is a fresh tsx
 * namespace); routes sharing a module are compiled together, so they keep
 * sharing one instance. A compiled route's fingerprint is taken again once
 * its modules are imported, since they may import files no one had seen.
 */
async function planRoutes(entries: RouteEntry[], loader: HookLoader, fingerprints: Fingerprints, previous: RouteTable | undefined): Promise<RoutePlan> {
  const fileOf = (spec: string) => loader.resolve(spec).file;
  const known = new Set([...(previous?.hookFiles ?? []), ...hookSpecs(entries.map((e) => e.raw)).map(fileOf)]);
  const before = fingerprints.hookDigest(known);
  const first = entries.map((entry) => ({ entry, fingerprint: fingerprints.of(entry, before) }));
  const changed = first.filter((p) => previous?.routes.get(p.entry.event)?.fingerprint !== p.fingerprint);
  const reloadedModules = new Set(changed.flatMap((p) => hookSpecs([p.entry.raw]).map(fileOf)));
  const reusable = (p: (typeof first)[number]) => !changed.includes(p) && !hookSpecs([p.entry.raw]).some((spec) => reloadedModules.has(fileOf(spec)));
  const hooks = new Map<string, LoadedHook>();
  const stale = first.filter((p) => !reusable(p));
  await Promise.all(hookSpecs(stale.map((p) => p.entry.raw)).map(async (spec) => hooks.set(spec, await loader.load(spec))));
  const discovered = [...loader.files].some((f) => !known.has(f));
  const after = discovered ? fingerprints.hookDigest(new Set([...known, ...loader.files])) : before;
  const routes: RoutePlan['routes'] = first.map((p) =>
    reusable(p) ? { ...p, reuse: previous!.routes.get(p.entry.event)! } : { entry: p.entry, fingerprint: discovered ? fingerprints.of(p.entry, after) : p.fingerprint },
  );
  const reusedHookRoute = routes.some((p) => p.reuse && usesHook(p.entry.raw));
  return { routes, hooks, hookFiles: reusedHookRoute ? new Set([...known, ...loader.files]) : loader.files };
}

function versionHash(text: string, routes: ReadonlyMap<string, Route>, schedules: ReadonlyMap<string, SchedulePlan>): string {
  const h = createHash('sha256').update(text);
  for (const event of [...routes.keys()].sort()) h.update(`\0${event}\0${routes.get(event)!.fingerprint}`);
  for (const name of [...schedules.keys()].sort()) h.update(`\0schedule\0${name}\0${schedules.get(name)!.fingerprint}`);
  return h.digest('hex').slice(0, 12);
}

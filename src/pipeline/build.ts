import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { checkStatements } from '../db/check.js';
import { compileSource, readSettings, type RouteTable } from '../compile/table.js';
import type { Driver } from '../db/driver.js';
import { migrate } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { TrackingDriver } from '../db/tracking.js';
import { hasErrors, ManifestError, type Diagnostic } from '../manifest/diagnostics.js';
import { DiagnosticSink, loadManifest, type ManifestSource } from '../manifest/load.js';
import type { DatabaseSettings, Settings } from '../manifest/settings.js';
import { builtinRoutes, builtinSchemaFiles, type ServerPlugin } from './plugin.js';
import type { ClusterLink } from '../cluster/link.js';

/** A compiled table with the database it runs on. */
export interface Version {
  table: RouteTable;
  db: Driver;
  /** What was applied to `db`: a hash of the schema files' names and contents. */
  schema: string;
}

export interface BuildOptions {
  manifestPath: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  plugins: ServerPlugin[];
  log: Logger;
  /** The version serving now: its database is reused when the database section did not change. */
  previous?: Version;
  /** The node's link to the cluster's Redis (opened once, at start: `cluster:` changes need a restart). */
  cluster?: ClusterLink;
}

/** The manifest read and its settings resolved: nothing opened, nothing written. */
export interface ReadVersion {
  source: ManifestSource;
  settings: Settings;
}

/** load -> validate the schema and settings. Throws ManifestError when the manifest is not usable. */
export function readVersion(o: Pick<BuildOptions, 'manifestPath' | 'cwd' | 'env'>): ReadVersion {
  const loaded = loadManifest(o.manifestPath, o.cwd);
  if (!loaded.source || hasErrors(loaded.diagnostics)) throw new ManifestError(loaded.diagnostics);
  const pre = readSettings(loaded.source, { env: o.env, strictEnv: true });
  if (!pre.settings || hasErrors(pre.diagnostics)) throw new ManifestError(pre.diagnostics);
  return { source: loaded.source, settings: pre.settings };
}

/**
 * load -> validate -> compile -> prepare the SQL, off to the side: nothing that
 * serves is touched. Throws ManifestError (every diagnostic) when the manifest is not usable.
 */
export async function buildVersion(o: BuildOptions, read: ReadVersion = readVersion(o)): Promise<Version & { dbChanged: boolean; warnings: Diagnostic[] }> {
  const { source, settings } = read;
  const previous = o.previous && sameDatabase(o.previous.table.settings.database, settings.database) ? o.previous : undefined;
  // Tracking: with live routes, it tells them what every commit wrote (src/live/).
  const db = previous ? previous.db : new TrackingDriver(openDatabase(settings.database));
  try {
    const builtin = builtinSchemaFiles(o.plugins, db.dialect, settings);
    const own = settings.database.migrate ? settings.database.schema : [];
    // Applied when they changed, or to a database opened now: a reload that only edits a route writes nothing.
    const schema = schemaHash([...builtin, ...own]);
    if (previous?.schema !== schema) {
      await migrate(db, builtin);
      const applied = await migrate(db, own);
      if (applied.length) o.log.info(`applied ${applied.length} schema file(s)`);
    }
    // Same database: routes whose fingerprint did not change are taken over as they are
    // (not compiled again; their closures, rate-limit windows and timers go on).
    const compiled = await compileSource(source, { driver: db, env: o.env, strictEnv: true, builtins: builtinRoutes(o.plugins), previous: previous?.table, settings, cluster: o.cluster });
    if (!compiled.table) throw new ManifestError(compiled.diagnostics);
    const table = compiled.table;
    // The statements of routes compiled now; those taken over were prepared when they came in.
    const sink = new DiagnosticSink(source);
    await checkStatements(db, table, sink, previous && ((event) => changedSince(previous.table, table, event)));
    if (hasErrors(sink.list)) throw new ManifestError(sink.list);
    return { table, db, schema, dbChanged: !previous, warnings: compiled.diagnostics.filter((d) => d.severity === 'warning') };
  } catch (e) {
    if (!previous) await db.close().catch(() => undefined);
    throw e;
  }
}

/** Whether the route (or schedule) a statement belongs to was compiled now, not taken over. */
function changedSince(before: RouteTable, after: RouteTable, event: string): boolean {
  if (after.routes.has(event) || before.routes.has(event)) return after.routes.get(event) !== before.routes.get(event);
  const name = event.replace(/^schedule:/, '');
  return after.schedules.get(name) !== before.schedules.get(name);
}

function sameDatabase(a: DatabaseSettings, b: DatabaseSettings): boolean {
  return a.driver === b.driver && a.file === b.file && a.url === b.url && a.pool === b.pool;
}

/** Names and contents, in order (a file that cannot be read hashes as absent; migrate reports it). */
function schemaHash(files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    let text = '\u0000absent';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // migrate names the file
    }
    hash.update(`${file}\u0000${text}\u0000`);
  }
  return hash.digest('hex');
}

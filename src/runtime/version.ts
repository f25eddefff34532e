import type { Logger } from 'pino';
import { checkStatements } from '../compile/check-db.js';
import { compileSource, readSettings, type RouteTable } from '../compile/table.js';
import type { Driver } from '../db/driver.js';
import { migrate } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { hasErrors, ManifestError, type Diagnostic } from '../manifest/diagnostics.js';
import { DiagnosticSink, loadManifest } from '../manifest/load.js';
import type { DatabaseSettings } from '../manifest/settings.js';
import { builtinRoutes, builtinSchemaFiles } from '../plugins.js';
import type { ServerPlugin } from './server.js';

/** A compiled table with the database it runs on. */
export interface Version {
  table: RouteTable;
  db: Driver;
}

export interface BuildOptions {
  manifestPath: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  plugins: ServerPlugin[];
  log: Logger;
  /** The version serving now: its database is reused when the database section did not change. */
  previous?: Version;
}

/**
 * load -> validate -> compile -> prepare the SQL, off to the side: nothing that
 * serves is touched. Throws ManifestError (every diagnostic) when the manifest is not usable.
 */
export async function buildVersion(o: BuildOptions): Promise<Version & { dbChanged: boolean; warnings: Diagnostic[] }> {
  const loaded = loadManifest(o.manifestPath, o.cwd);
  if (!loaded.source || hasErrors(loaded.diagnostics)) throw new ManifestError(loaded.diagnostics);
  const pre = readSettings(loaded.source, { env: o.env, strictEnv: true });
  if (!pre.settings || hasErrors(pre.diagnostics)) throw new ManifestError(pre.diagnostics);
  const settings = pre.settings;
  const reuse = o.previous && sameDatabase(o.previous.table.settings.database, settings.database);
  const db = reuse ? o.previous!.db : openDatabase(settings.database);
  try {
    await migrate(db, builtinSchemaFiles(o.plugins, db.dialect, settings));
    if (settings.database.migrate) {
      const applied = await migrate(db, settings.database.schema);
      if (applied.length) o.log.info(`applied ${applied.length} schema file(s)`);
    }
    // Same database: routes whose fingerprint did not change are taken over as they are
    // (not compiled again; their closures, rate-limit windows and timers go on).
    const compiled = await compileSource(loaded.source, { driver: db, env: o.env, strictEnv: true, builtins: builtinRoutes(o.plugins), previous: reuse ? o.previous!.table : undefined, settings });
    if (!compiled.table) throw new ManifestError(compiled.diagnostics);
    const table = compiled.table;
    // The statements of routes compiled now; those taken over were prepared when they came in.
    const sink = new DiagnosticSink(loaded.source);
    await checkStatements(db, table, sink, reuse ? (event) => table.routes.get(event) !== o.previous!.table.routes.get(event) : undefined);
    if (hasErrors(sink.list)) throw new ManifestError(sink.list);
    return { table, db, dbChanged: !reuse, warnings: compiled.diagnostics.filter((d) => d.severity === 'warning') };
  } catch (e) {
    if (!reuse) await db.close().catch(() => undefined);
    throw e;
  }
}

function sameDatabase(a: DatabaseSettings, b: DatabaseSettings): boolean {
  return a.driver === b.driver && a.file === b.file && a.url === b.url && a.pool === b.pool;
}

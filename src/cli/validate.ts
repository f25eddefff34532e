import { checkStatements } from '../db/check.js';
import { compileManifestFile } from '../compile/table.js';
import { openDatabase } from '../db/open.js';
import { migrate } from '../db/migrate.js';
import { SqliteDriver } from '../db/sqlite.js';
import type { Driver } from '../db/driver.js';
import { formatDiagnostic, hasErrors, type Diagnostic } from '../manifest/diagnostics.js';
import { DiagnosticSink } from '../manifest/load.js';
import { builtinRoutes, builtinSchemaFiles } from '../pipeline/plugin.js';
import { defaultPlugins } from './plugins.js';
import { parseVerbArgs } from './args.js';
import { EXIT, type CliIo } from './io.js';

export const validateHelp = `Usage: sockey validate [sockey.yaml] [--db]

Checks a manifest: YAML syntax, the JSON Schema, then what a schema cannot
(SQL parameters, templates, durations, hooks, emit targets). Prints every
problem as file:line:col path: message and exits 1, or a summary and exits 0.

Options:
  --db        also prepare every SQL statement against the configured database
  -h, --help  show this help
`;

export async function validateCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, { db: { type: 'boolean' } });
  if (values.help) {
    io.stdout(validateHelp);
    return EXIT.OK;
  }
  const file = positionals[0] ?? 'sockey.yaml';
  const plugins = defaultPlugins();
  const result = await compileManifestFile(file, io.cwd, { env: io.env, strictEnv: Boolean(values.db), builtins: builtinRoutes(plugins) });
  const diagnostics: Diagnostic[] = [...result.diagnostics];
  // Every statement that compiled is prepared, also when other parts of the manifest have problems.
  if (values.db && result.statements && result.source && result.settings) {
    const sink = new DiagnosticSink(result.source);
    await checkAgainstDatabase(result, sink, plugins);
    diagnostics.push(...sink.list);
  }
  // In the order of the file (problems inside included SQL files after the manifest's own).
  const inManifest = (d: Diagnostic) => (d.file === file ? 0 : 1);
  diagnostics.sort((a, b) => inManifest(a) - inManifest(b) || a.line - b.line || a.col - b.col);
  for (const d of diagnostics) io.stderr(formatDiagnostic(d) + '\n');
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (errors > 0 || hasErrors(diagnostics) || !result.table) {
    io.stderr(`${file}: ${errors} problem${errors === 1 ? '' : 's'}\n`);
    return EXIT.PROBLEMS;
  }
  const routes = [...result.table.routes.values()];
  const user = routes.filter((r) => !r.builtin).length;
  io.stdout(
    `${file}: ok (${user} route${user === 1 ? '' : 's'}${routes.length > user ? ` + ${routes.length - user} built-in` : ''}, ${result.table.settings.database.driver}${values.db ? ', SQL checked against the database' : ''})\n`,
  );
  return EXIT.OK;
}

/** Prepares every statement on a database opened for it. SQLite: on an in-memory copy of the file (read-only), with the schema files applied there. */
async function checkAgainstDatabase(result: Awaited<ReturnType<typeof compileManifestFile>>, sink: DiagnosticSink, plugins: ReturnType<typeof defaultPlugins>): Promise<void> {
  const settings = result.settings!;
  let db: Driver;
  try {
    db = settings.database.driver === 'sqlite' ? SqliteDriver.copyOf(settings.database.file) : openDatabase(settings.database);
  } catch (e) {
    sink.error('DB', ['database'], `cannot open the database: ${(e as Error).message}`, { at: 'key' });
    return;
  }
  const schemaFiles = [...builtinSchemaFiles(plugins, db.dialect, settings), ...settings.database.schema];
  try {
    // MySQL cannot roll back DDL: its tables must exist (sockey db migrate).
    if (db instanceof SqliteDriver) await migrate(db, schemaFiles);
    await checkStatements(db, { statements: result.statements!, routes: result.table?.routes }, sink);
  } catch (e) {
    sink.error('DB', ['database'], `database check failed: ${(e as Error).message}`, { at: 'key' });
  } finally {
    await db.close().catch(() => undefined);
  }
}

import path from 'node:path';
import { readSettings } from '../compile/table.js';
import { migrate } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { formatDiagnostic, hasErrors } from '../manifest/diagnostics.js';
import { loadManifest } from '../manifest/load.js';
import { builtinSchemaFiles } from '../pipeline/plugin.js';
import { defaultPlugins } from './plugins.js';
import { parseVerbArgs } from './args.js';
import { EXIT, UserError, type CliIo } from './io.js';

export const dbHelp = `Usage: sockey db migrate [sockey.yaml]

Applies the built-in tables (sql/<driver>/) and the manifest's
database.schema files, in order. Schema files run every time: write them
idempotently (CREATE TABLE IF NOT EXISTS).

Options:
  -h, --help  show this help
`;

export async function dbCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, {}, 2);
  if (values.help) {
    io.stdout(dbHelp);
    return EXIT.OK;
  }
  const [sub, file = 'sockey.yaml'] = positionals;
  if (sub !== 'migrate') throw new UserError(sub ? `unknown db command "${sub}" (expected: migrate)` : 'missing db command (expected: sockey db migrate)');
  const loaded = loadManifest(file, io.cwd);
  const pre = loaded.source ? readSettings(loaded.source, { env: io.env, strictEnv: true }) : { diagnostics: [] };
  const diagnostics = [...loaded.diagnostics, ...pre.diagnostics];
  if (!pre.settings || hasErrors(diagnostics)) {
    for (const d of diagnostics) io.stderr(formatDiagnostic(d) + '\n');
    return EXIT.PROBLEMS;
  }
  const settings = pre.settings;
  const db = openDatabase(settings.database);
  try {
    const builtin = builtinSchemaFiles(defaultPlugins(), db.dialect, settings);
    const applied = await migrate(db, [...builtin, ...settings.database.schema]);
    for (const f of applied) io.stdout(`applied ${path.relative(io.cwd, f) || f}\n`);
    io.stdout(`${db.description}: ${applied.length} schema file${applied.length === 1 ? '' : 's'} applied\n`);
    return EXIT.OK;
  } catch (e) {
    io.stderr(`migration failed: ${(e as Error).message}\n`);
    return EXIT.PROBLEMS;
  } finally {
    await db.close();
  }
}

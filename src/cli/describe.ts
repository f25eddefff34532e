import { compileManifestFile } from '../compile/table.js';
import { describeApp, type ApiModel } from '../describe/model.js';
import { formatDiagnostic } from '../manifest/diagnostics.js';
import { builtinRoutes } from '../pipeline/plugin.js';
import { defaultPlugins } from './plugins.js';
import type { CliIo } from './io.js';

/**
 * The manifest compiled as `sockey routes` compiles it (built-ins included,
 * no database), described for its clients; undefined when it has problems,
 * which are then printed on stderr.
 */
export async function describeManifest(file: string, io: CliIo): Promise<ApiModel | undefined> {
  const result = await compileManifestFile(file, io.cwd, { env: io.env, strictEnv: false, builtins: builtinRoutes(defaultPlugins()) });
  if (!result.table) {
    for (const d of result.diagnostics) io.stderr(formatDiagnostic(d) + '\n');
    return undefined;
  }
  return describeApp({ table: result.table, source: result.source });
}

import { compileManifestFile } from '../compile/table.js';
import type { ScheduleSummary } from '../core/wire.js';
import { formatDiagnostic } from '../manifest/diagnostics.js';
import { builtinRoutes } from '../pipeline/plugin.js';
import { defaultPlugins } from './plugins.js';
import { parseVerbArgs } from './args.js';
import { EXIT, type CliIo } from './io.js';

export const routesHelp = `Usage: sockey routes [sockey.yaml] [--json] [--schedules]

Prints the compiled route table, built-in routes included, then the
schedules (when the manifest has any).

Options:
  --json       print JSON instead of a table
  --schedules  print only the schedules
  -h, --help  show this help
`;

export async function routesCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, { json: { type: 'boolean' }, schedules: { type: 'boolean' } });
  if (values.help) {
    io.stdout(routesHelp);
    return EXIT.OK;
  }
  const file = positionals[0] ?? 'sockey.yaml';
  const result = await compileManifestFile(file, io.cwd, { env: io.env, strictEnv: false, builtins: builtinRoutes(defaultPlugins()) });
  if (!result.table) {
    for (const d of result.diagnostics) io.stderr(formatDiagnostic(d) + '\n');
    return EXIT.PROBLEMS;
  }
  const scheduled = [...result.table.schedules.values()].map((p) => p.summary);
  if (values.schedules) {
    if (values.json) io.stdout(JSON.stringify(scheduled, null, 2) + '\n');
    else printRows(io, scheduleRows(scheduled));
    return EXIT.OK;
  }
  const summaries = [...result.table.routes.values()].map((r) => r.summary);
  if (values.json) {
    io.stdout(JSON.stringify(summaries, null, 2) + '\n');
    return EXIT.OK;
  }
  const rows = [['EVENT', 'AUTH', 'ACTION', 'EMIT', 'PARAMS', 'EXTRA']];
  for (const s of summaries) {
    const extra = [
      s.guard ? `guard ${s.guard}` : '',
      s.expect ? `expect ${s.expect}` : '',
      ...(s.presence ?? []).map((r) => `presence join ${r}`),
      s.live ?? '',
      ...s.timers.map((t) => `timer ${t}`),
      s.rateLimit ? `rate ${s.rateLimit}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    rows.push([s.event + (s.builtin ? ' (built-in)' : ''), s.auth, s.action, s.emit, s.params.join(',') || '-', extra || '-']);
  }
  printRows(io, rows);
  if (scheduled.length) {
    io.stdout('\n');
    printRows(io, scheduleRows(scheduled));
  }
  return EXIT.OK;
}

function scheduleRows(scheduled: ScheduleSummary[]): string[][] {
  return [['SCHEDULE', 'WHEN', 'ACTION', 'EMIT'], ...scheduled.map((s) => [s.name, s.when, s.action, s.emit])];
}

function printRows(io: CliIo, rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) io.stdout(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
}

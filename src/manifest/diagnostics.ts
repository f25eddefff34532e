/**
 * Manifest problems: collected (never thrown one by one), located by offset,
 * and turned into `file:line:col path: message` only when printed.
 */
export const DIAGNOSTIC_CODES = {
  FILE_NOT_FOUND: 'the manifest or a file it names cannot be read',
  YAML_SYNTAX: 'the manifest is not valid YAML',
  SCHEMA: 'the manifest does not match schema/sockey.schema.json',
  ACTION: 'a route has no action or more than one',
  RESERVED_EVENT: 'a route uses an event name socket.io reserves',
  SQL_TEMPLATE: '`{{` inside sql',
  SQL_PARAM: 'a :name in sql, or a {{params.x}} in a template, that is not a declared param',
  AUTH_REQUIRED: 'auth.* used on a route without auth',
  PARAMS_SCHEMA: 'a params schema that ajv cannot compile (error), or a keyword indented under properties: (warning)',
  TEMPLATE: 'a mustache template that does not parse',
  DURATION: 'a duration or size that does not parse',
  HOOK: 'a hook file that is missing or does not export the function',
  EMIT: 'an incomplete emit target',
  ROOM: 'a join, leave or emit room in sockey\'s own "sockey:" namespace',
  TIMER: 'a timer without exactly one of after/every',
  GUARD: 'a guard: that names no guard under guards:, or an expect: without sql',
  STEP: 'a :steps.x or {{steps.x}} that names no earlier step (as:), or two steps with one name',
  SCHEDULE: 'a schedule without exactly one of every/cron, a cron pattern or timezone that does not parse, or an emit a schedule cannot have',
  LIVE: 'live: on a route that is not one SQL read, or a read whose tables or key cannot be told',
  ENV: 'an {{env.X}} that is not set',
  DB: 'the database rejects a statement or cannot be reached',
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
export type ManifestPath = ReadonlyArray<string | number>;

export interface Diagnostic {
  code: DiagnosticCode;
  message: string;
  severity: 'error' | 'warning';
  /** The file as the user named it (relative paths stay relative). */
  file: string;
  path: ManifestPath;
  line: number;
  col: number;
}

export function formatPath(path: ManifestPath): string {
  return path.map(String).join('.');
}

/** `sockey.yaml:12:5 routes.echo.sql: message` (with `warning:` for warnings). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  const path = d.path.length ? ` ${formatPath(d.path)}:` : '';
  const level = d.severity === 'warning' ? ' warning:' : '';
  return `${where}${path}${level} ${d.message}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Thrown when a manifest cannot be used: carries every diagnostic. */
export class ManifestError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(
      diagnostics
        .filter((d) => d.severity === 'error')
        .map(formatDiagnostic)
        .join('\n'),
    );
    this.name = 'ManifestError';
    this.diagnostics = diagnostics;
  }
}

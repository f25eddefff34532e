/**
 * sockey's public API: the types hook authors import, and the server for
 * embedding sockey in a program of your own.
 *
 * @example
 * import type { HookContext } from 'sockey';
 * export async function stats(ctx: HookContext<{ room: string }>) { ... }
 */
export type { HookContext, Hook, HookDb, HookTimers, EmitTarget, WriteResult } from './directives/hook-context.js';
export type { AuthUser } from './core/route.js';
export type { DataEnvelope, ErrorEnvelope } from './core/envelope.js';
export { SockeyError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export { SockeyServer, type StartOptions } from './runtime/server.js';
export { defaultPlugins } from './cli/plugins.js';
export { cli } from './cli/index.js';
export { compileManifestFile } from './compile/table.js';
export { formatDiagnostic, DIAGNOSTIC_CODES, type Diagnostic, type DiagnosticCode } from './manifest/diagnostics.js';

/** Identity helper that types a hook: `export const stats = defineHook<{ room: string }>(async (ctx) => ...)`. */
export function defineHook<P = Record<string, unknown>, R = unknown>(hook: import('./directives/hook-context.js').Hook<P, R>) {
  return hook;
}

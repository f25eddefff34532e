/**
 * `sockey/server`: sockey inside a program of your own.
 *
 * @example
 * import { SockeyServer } from 'sockey/server';
 * const server = await SockeyServer.start({ manifest: './sockey.yaml', port: 8081 });
 * // server.io is the socket.io Server, server.http the node:http server
 * process.on('SIGTERM', () => void server.close());
 */
import { defaultPlugins } from './cli/plugins.js';
import { SockeyServer as RunningServer, type StartOptions } from './runtime/server.js';

/** A running sockey: `http`, `io` (socket.io), `table`, `db`, `port`, `close()`. */
export type SockeyServer = RunningServer;

/** Starts a server; the built-in auth runs unless `plugins` says otherwise (`plugins: []` for none). */
export const SockeyServer = {
  start: (options: StartOptions = {}): Promise<RunningServer> => RunningServer.start({ ...options, plugins: options.plugins ?? defaultPlugins() }),
};

export type { StartOptions };
export { defaultPlugins };
export type { ServerPlugin, ServerContext, Identify, Identity } from './pipeline/plugin.js';
export { authPlugin } from './auth/plugin.js';
export { createLogger, type LogFormat } from './runtime/logger.js';
export { watchServer } from './reload/watcher.js';
export { cli } from './cli/index.js';
export { compileManifestFile } from './compile/table.js';
export { formatDiagnostic, DIAGNOSTIC_CODES, type Diagnostic, type DiagnosticCode } from './manifest/diagnostics.js';
export type { Clock } from './core/clock.js';
export * from './index.js';

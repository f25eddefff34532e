import { ManifestError, formatDiagnostic } from '../manifest/diagnostics.js';
import { defaultPlugins } from './plugins.js';
import { createLogger, type LogFormat } from '../runtime/logger.js';
import { PortError } from '../runtime/port.js';
import { SockeyServer } from '../runtime/server.js';
import { Reloader } from '../reload/swap.js';
import { watchServer } from '../reload/watcher.js';
import { parsePort, parseVerbArgs } from './args.js';
import { EXIT, UserError, type CliIo } from './io.js';

export const serveHelp = `Usage: sockey serve [sockey.yaml] [--port N] [--host H] [--log pretty|json] [--no-watch]

Serves the manifest over socket.io. Edits to the manifest, its SQL files and
hooks go live without a restart (an invalid edit is logged and changes
nothing). SIGHUP reloads too. SIGINT/SIGTERM close sockets and the database
cleanly.

Options:
  --port N           listen on N (overrides server.port and SOCKEY_PORT; 0 = any free port)
  --host H           listen on H (default: all interfaces)
  --log pretty|json  log format on stderr (default pretty)
  --no-watch         do not watch files (SIGHUP still reloads)
  -h, --help         show this help
`;

export async function serveCommand(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    log: { type: 'string' },
    'no-watch': { type: 'boolean' },
  });
  if (values.help) {
    io.stdout(serveHelp);
    return EXIT.OK;
  }
  if (values.log !== undefined && values.log !== 'pretty' && values.log !== 'json') throw new UserError(`--log must be pretty or json, got "${values.log}"`);
  const log = createLogger({ format: values.log as LogFormat | undefined });
  // Signals are caught before anything is logged: a supervisor's SIGTERM right after start still closes cleanly.
  let stopReason: string | undefined;
  let wake = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const stop = (why: string) => {
    stopReason ??= why;
    wake();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  signal?.addEventListener('abort', () => stop('abort'), { once: true });
  const unlisten = () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };

  let server: SockeyServer;
  try {
    server = await SockeyServer.start({
      manifest: positionals[0] ?? 'sockey.yaml',
      cwd: io.cwd,
      env: io.env,
      port: parsePort(values.port),
      host: values.host,
      log,
      plugins: defaultPlugins(),
    });
  } catch (e) {
    unlisten();
    if (e instanceof ManifestError) {
      for (const d of e.diagnostics) io.stderr(formatDiagnostic(d) + '\n');
      return EXIT.PROBLEMS;
    }
    if (e instanceof PortError) throw new UserError(e.message, EXIT.USAGE);
    const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
    if (err.code === 'EADDRINUSE') {
      const on = err.address && err.address !== '::' && err.address !== '0.0.0.0' ? ` on ${err.address}` : '';
      throw new UserError(`port ${err.port}${on} is already in use`, EXIT.PROBLEMS);
    }
    throw new UserError(`cannot start: ${err.message}`, EXIT.PROBLEMS);
  }
  const watching = values['no-watch'] || stopReason ? undefined : watchServer(server);
  const reloader = watching?.reloader ?? new Reloader(server);
  const onHup = () => void reloader.reload('SIGHUP');
  process.on('SIGHUP', onHup);
  await stopped;
  log.info(`${stopReason}: closing`);
  process.off('SIGHUP', onHup);
  unlisten();
  await watching?.close();
  await server.close();
  log.info('closed');
  return EXIT.OK;
}

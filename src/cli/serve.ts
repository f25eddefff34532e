import { ManifestError, formatDiagnostic } from '../manifest/diagnostics.js';
import { defaultPlugins } from '../plugins.js';
import { createLogger, type LogFormat } from '../runtime/logger.js';
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
    if (e instanceof ManifestError) {
      for (const d of e.diagnostics) io.stderr(formatDiagnostic(d) + '\n');
      return EXIT.PROBLEMS;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new UserError(`port ${values.port ?? 'configured'} is already in use`, EXIT.PROBLEMS);
    throw new UserError(`cannot start: ${err.message}`, EXIT.PROBLEMS);
  }
  const watching = values['no-watch'] ? undefined : watchServer(server);
  const reloader = watching?.reloader ?? new Reloader(server);
  const onHup = () => void reloader.reload('SIGHUP');
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    const stop = (why: string) => {
      log.info(`${why}: closing`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    signal?.addEventListener('abort', () => stop('abort'), { once: true });
  });
  process.off('SIGHUP', onHup);
  await watching?.close();
  await server.close();
  log.info('closed');
  return EXIT.OK;
}

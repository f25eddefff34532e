import cluster from 'node:cluster';
import { ManifestError, formatDiagnostic } from '../manifest/diagnostics.js';
import { defaultPlugins } from './plugins.js';
import { createLogger, type LogFormat } from '../runtime/logger.js';
import { PortError } from '../runtime/port.js';
import { SockeyServer } from '../runtime/server.js';
import { Reloader } from '../reload/swap.js';
import { watchServer } from '../reload/watcher.js';
import { parsePort, parseVerbArgs } from './args.js';
import { EXIT, UserError, type CliIo } from './io.js';
import { parseWorkers, reportReady, runPrimary, workerHooks, workerLogger, workerNumber } from './workers.js';

export const serveHelp = `Usage: sockey serve [sockey.yaml] [--port N] [--host H] [--log pretty|json] [--no-watch]
                    [--workers N|auto]

Serves the manifest over socket.io. Edits to the manifest, its SQL files and
hooks go live without a restart (an invalid edit is logged and changes
nothing). SIGHUP reloads too. SIGINT/SIGTERM close sockets and the database
cleanly. With --workers, N processes share the port (sticky sessions for
polling); SIGHUP reloads every worker, SIGTERM drains them all, and a worker
that dies is started again.

Options:
  --port N           listen on N (overrides server.port and SOCKEY_PORT; 0 = any free port)
  --host H           listen on H (default: all interfaces)
  --log pretty|json  log format on stderr (default pretty)
  --no-watch         do not watch files (SIGHUP still reloads)
  --workers N|auto   N worker processes on the one port (auto = one per core; default 1)
  -h, --help         show this help
`;

export async function serveCommand(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    log: { type: 'string' },
    'no-watch': { type: 'boolean' },
    workers: { type: 'string', short: 'w' },
  });
  if (values.help) {
    io.stdout(serveHelp);
    return EXIT.OK;
  }
  if (values.log !== undefined && values.log !== 'pretty' && values.log !== 'json') throw new UserError(`--log must be pretty or json, got "${values.log}"`);
  const workers = parseWorkers(values.workers);
  // Set in a worker of `--workers N` (its primary forked it with the same arguments).
  const worker = workerNumber();
  const base = createLogger({ format: values.log as LogFormat | undefined });
  const log = worker === undefined ? base : workerLogger(base, worker, values.log === 'json');
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

  if (workers > 1 && worker === undefined) {
    try {
      const opts = { argv, workers, manifest: positionals[0] ?? 'sockey.yaml', cwd: io.cwd, env: io.env, port: parsePort(values.port), host: values.host, log };
      return await runPrimary({ ...opts, stopped: stopped.then(() => stopReason ?? 'stop'), stop });
    } catch (e) {
      return startFailure(e, io);
    } finally {
      unlisten();
    }
  }
  try {
    return await serveOne();
  } finally {
    unlisten();
    // A worker's IPC channel (sticky, the cluster adapter) would keep it running. Through
    // cluster.worker: a plain process.disconnect() makes node:cluster exit 0 at once, losing the exit code.
    if (worker !== undefined && process.connected) cluster.worker?.disconnect();
  }

  async function serveOne(): Promise<number> {
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
        worker: worker === undefined ? undefined : await workerHooks(),
      });
    } catch (e) {
      return startFailure(e, io);
    }
    const watching = values['no-watch'] || stopReason ? undefined : watchServer(server);
    const reloader = watching?.reloader ?? new Reloader(server);
    const onHup = () => void reloader.reload('SIGHUP');
    process.on('SIGHUP', onHup);
    // (A worker whose primary is gone exits at once: node:cluster's own rule.)
    if (worker !== undefined) {
      reportReady(`${server.table.routes.size} routes, ${server.db.description}, version ${server.table.version}${server.cluster ? `, cluster ${server.cluster.prefix}` : ''}`);
    }
    await stopped;
    log.info(`${stopReason}: closing`);
    process.off('SIGHUP', onHup);
    // A worker keeps catching SIGINT/SIGTERM while it closes: the primary passes on the one the terminal sent it too.
    if (worker === undefined) unlisten();
    await watching?.close();
    await server.close();
    log.info('closed');
    return EXIT.OK;
  }
}

/** A start that failed: the manifest's problems, a bad or busy port, anything else. */
function startFailure(e: unknown, io: CliIo): number {
  if (e instanceof UserError) throw e;
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

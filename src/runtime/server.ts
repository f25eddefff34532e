import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Server, type ServerOptions } from 'socket.io';
import type { RouteTable } from '../compile/table.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Driver } from '../db/driver.js';
import { PLAYGROUND_NAMESPACE } from '../core/wire.js';
import { formatDiagnostic } from '../manifest/diagnostics.js';
import { errorEnvelope } from '../core/envelope.js';
import { chainIdentify, type ServerPlugin } from '../pipeline/plugin.js';
import { attachDispatcher, type DispatchTarget } from './dispatch.js';
import { httpHandler, playgroundInfo } from './http.js';
import { createLogger } from './logger.js';
import { envPort } from './port.js';
import type { SocketState } from './socket-state.js';
import { buildVersion, readVersion, type Version } from '../pipeline/build.js';
import { ClusterLink } from '../cluster/link.js';
import { Scheduler } from './schedules.js';
import { saveSessionsAhead } from '../cluster/recovery.js';
import { repeatsFor, repeatsOf } from '../core/repeats.js';
import type { Metrics } from '../ops/metrics.js';
import { ReadinessCheck } from '../ops/health.js';

export interface StartOptions {
  /** Path of the manifest (default ./sockey.yaml). */
  manifest?: string;
  cwd?: string;
  /** Overrides server.port and SOCKEY_PORT. 0 picks a free port. */
  port?: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  plugins?: ServerPlugin[];
  /** Time for rate limits (tests pass their own; the auth plugin takes its own too). */
  clock?: Clock;
  /** Set in a worker of `serve --workers` (src/cli/workers.ts): the primary owns the port. */
  worker?: WorkerHooks;
}

/** How a worker of `serve --workers` differs: it does not listen, the primary hands it connections. */
export interface WorkerHooks {
  /** The primary's port (for the log line and `server.port`). */
  port: number;
  /** The worker's slot, 1..N (kept by a worker restarted in its place). */
  number: number;
  /** socket.io's adapter between the workers, used when the manifest has no `cluster:` (which brings its own). */
  adapter: NonNullable<ServerOptions['adapter']>;
  /** Runs once io exists, before the ready line: connections from the primary reach it from then on. */
  attach(io: Server): void;
}

/** What every socket hears when its server stops, just before its transport closes. */
export const SHUTDOWN_EVENT = 'sockey:shutdown';

/** A running sockey: http + socket.io + the current route table and database. */
export class SockeyServer {
  readonly states = new Map<string, SocketState>();
  /** The node's link to the cluster's Redis, with `cluster:`. */
  cluster?: ClusterLink;
  /** The manifest's `schedules:`, running (restarted by `swap` when they change). */
  scheduler?: Scheduler;
  /** `server.metrics`: what `/metrics` serves (reloads count there too). */
  metrics?: Metrics;
  /** `server.metrics: { port }`: the metrics listener. */
  metricsHttp?: HttpServer;
  /** What `/readyz` asks. */
  readonly readiness: ReadinessCheck;
  private stopSaving?: () => void;
  /** Server-side emits reach other processes (with `cluster:`, or between workers): plugins share state through them. */
  peers = false;
  private closed = false;

  private constructor(
    readonly http: HttpServer,
    readonly io: Server,
    readonly log: Logger,
    readonly target: DispatchTarget,
    public db: Driver,
    /** What was applied to `db` (see Version.schema). */
    public schema: string,
    readonly options: Required<Pick<StartOptions, 'manifest' | 'cwd' | 'env' | 'plugins'>> & Pick<StartOptions, 'worker'>,
    cluster: ClusterLink | undefined,
  ) {
    this.cluster = cluster;
    this.readiness = new ReadinessCheck({ db: () => this.db, version: () => this.table.version, cluster });
  }

  /** The metrics listener's port (`server.metrics: { port }`). */
  get metricsPort(): number | undefined {
    return (this.metricsHttp?.address() as AddressInfo | null)?.port;
  }

  get table(): RouteTable {
    return this.target.table;
  }

  /** A schedule's latest tick as this process's scheduler knows it (the playground shows it). */
  readonly lastTick = (name: string) => this.scheduler?.lastTick(name);

  get port(): number {
    return (this.http.address() as AddressInfo | null)?.port ?? this.options.worker?.port ?? 0;
  }

  /** The table, database and applied schema serving now. */
  get version(): Version {
    return { table: this.table, db: this.db, schema: this.schema };
  }

  /** Swaps in a new version in one step; the next message uses it. */
  swap(next: Version): void {
    this.target.table = next.table;
    this.db = next.db;
    this.schema = next.schema;
    this.scheduler?.update(next.table);
    this.metrics?.attach(next.table);
    for (const p of this.options.plugins) p.onSwap?.(this);
    // Open playgrounds show the new routes and schedules without a refresh.
    if (next.table.settings.server.playground) this.io.of(PLAYGROUND_NAMESPACE).emit('routes', playgroundInfo(next.table, this.lastTick));
  }

  static async start(options: StartOptions = {}): Promise<SockeyServer> {
    const log = options.log ?? createLogger();
    // Repeated error lines are summarised per interval of this clock.
    repeatsFor(log, options.clock ?? systemClock);
    const resolved = { manifest: options.manifest ?? 'sockey.yaml', cwd: options.cwd ?? process.cwd(), env: options.env ?? process.env, plugins: options.plugins ?? [], worker: options.worker };
    const read = readVersion({ manifestPath: resolved.manifest, cwd: resolved.cwd, env: resolved.env });
    // Opened before compiling: shared limits compile against it. It connects in the background.
    const link = read.settings.cluster ? await ClusterLink.open(read.settings.cluster, log) : undefined;
    const buildOptions = { manifestPath: resolved.manifest, cwd: resolved.cwd, env: resolved.env, plugins: resolved.plugins, log, cluster: link };
    const s = read.settings.server;
    const port = options.port ?? envPort(resolved.env) ?? s.port;
    const host = options.host ?? s.host;

    // The port first: a server that cannot listen has opened and written nothing. Until the
    // version is built, requests get 503 (a reconnecting client tries again) rather than hang.
    const http = createServer();
    const starting = (req: IncomingMessage, res: ServerResponse) => {
      if ((req.url ?? '').split('?')[0] === '/readyz') {
        res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(JSON.stringify({ ok: false, version: null, starting: true }));
        return;
      }
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' });
      res.end('sockey is starting\n');
    };
    http.on('request', starting);
    // A worker does not listen: the primary has the port and hands it connections.
    if (!options.worker) await listen(http, port, host);
    // The metrics listener is bound next, for the same reason; it serves once the metrics exist.
    let metricsHttp: HttpServer | undefined;
    let metrics: Metrics | undefined;
    const metricsAt = s.metrics?.port;
    if (metricsAt !== undefined) {
      metricsHttp = createServer((req, res) => serveMetrics(req, res, metrics, true));
      try {
        await listen(metricsHttp, metricsAt, s.metrics?.host ?? host);
      } catch (e) {
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
        await link?.close();
        throw e;
      }
    }
    // load -> validate -> compile -> prepare the SQL, then serve
    let version: Version;
    try {
      const built = await buildVersion(buildOptions, read);
      for (const d of built.warnings) log.warn(formatDiagnostic(d));
      version = built;
    } catch (e) {
      await link?.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      if (metricsHttp) await new Promise((resolve) => metricsHttp.close(resolve));
      throw e;
    }
    const { table, db } = version;
    http.off('request', starting);

    const settings = table.settings;
    // A stopping server takes no new connections (engine.io refuses the handshake); the client's
    // reconnection tries again, which reaches another node or worker behind a balancer.
    const io = new Server(http, {
      allowRequest: (_req, callback) => callback(target.draining ? 'the server is shutting down' : null, !target.draining),
      cors: { origin: s.cors.origin, credentials: s.cors.credentials },
      maxHttpBufferSize: s.maxPayload,
      ...(link ? { adapter: link.adapter() } : options.worker ? { adapter: options.worker.adapter } : {}),
      ...(settings.server.recovery ? { connectionStateRecovery: { maxDisconnectionDuration: settings.server.recovery.maxDisconnectionMs, skipMiddlewares: true } } : {}),
    });
    const target: DispatchTarget = {
      table,
      io,
      log,
      clock: options.clock ?? systemClock,
      identify: (call, payload) => ({ user: call.state.user, payload }),
      trace: log.isLevelEnabled('debug'),
      draining: false,
    };
    const server = new SockeyServer(http, io, log, target, db, version.schema, resolved, link);
    server.metricsHttp = metricsHttp;
    if (settings.server.metrics) {
      // Loaded only with server.metrics: prom-client (and what it imports) is not in every process's heap.
      const { Metrics } = await import('../ops/metrics.js');
      metrics = new Metrics({
        sockets: () => server.states.size,
        rooms: () => roomCount(io),
        db: () => server.db,
        version: () => server.table.version,
        cluster: link,
        plugins: resolved.plugins,
      });
      metrics.attach(table);
      server.metrics = metrics;
      target.metrics = metrics;
    }
    server.peers = Boolean(link ?? options.worker);
    options.worker?.attach(io);
    for (const p of resolved.plugins) p.onStart?.(server);
    target.identify = chainIdentify(resolved.plugins, server);
    target.live = resolved.plugins.find((p) => p.live)?.live;
    const connectionHooks = resolved.plugins.filter((p) => p.onConnection);
    if (connectionHooks.length) {
      target.onConnection = async (socket, state) => {
        for (const p of connectionHooks) await p.onConnection!(socket, state, server);
      };
    }
    attachDispatcher(target, server.states);
    // Schedules run once per tick: the cluster's Redis lock decides which node; without it, of the workers only the first runs them.
    if (link || !options.worker || options.worker.number === 1) {
      server.scheduler = new Scheduler(io, log, link);
      server.scheduler.update(table);
    }
    // A killed node saves no sessions: with a cluster, they are saved ahead, so its clients recover on another node.
    if (link && settings.server.recovery) server.stopSaving = saveSessionsAhead(io, link, settings.server.recovery.maxDisconnectionMs);
    // Only the playground's own page connects here; with playground: false it refuses everyone.
    io.of(PLAYGROUND_NAMESPACE).use((_socket, next) => next(server.table.settings.server.playground ? undefined : new Error('playground is off')));
    const handler = httpHandler(() => server.table, {
      lastTick: server.lastTick,
      state: () => Object.assign({}, ...resolved.plugins.map((p) => p.inspect?.() ?? {})),
      ready: () => server.readiness.check(),
      // On the app's port only with `metrics: true` (with a port of its own, /metrics here is a 404).
      metrics: metrics && metricsAt === undefined ? (req, res) => serveMetrics(req, res, metrics, false) : undefined,
    });
    http.on('request', (req, res) => {
      if (!res.headersSent && !(req.url ?? '').startsWith('/socket.io/')) handler(req, res);
    });
    // Heard by the other nodes from the moment it says it serves.
    await link?.readersReady();
    // A worker says it is ready; the primary prints the one "sockey listening on" line.
    log.info(
      `${options.worker ? 'ready, serving' : 'sockey listening on'} http://${host ?? '127.0.0.1'}:${server.port} (${table.routes.size} routes, ${db.description}, version ${table.version}${link ? `, cluster ${link.prefix}` : ''})`,
    );
    if (metricsHttp) log.info(`metrics on http://${s.metrics?.host ?? host ?? '127.0.0.1'}:${server.metricsPort}/metrics`);
    return server;
  }

  /** Closes sockets (clearing their timers), the http server and the database. */
  /**
   * Drains, then closes: new connections are refused and new messages answered
   * UNAVAILABLE, messages under way finish (up to server.drainTimeout), then every
   * socket's transport is closed (clients see "transport close" and reconnect, to
   * another node behind a balancer; with server.recovery their session is kept),
   * and the database and the Redis link close.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.target.draining = true;
    // No new TCP connections (those open stay until io.close); a worker's primary stops handing them over.
    if (this.http.listening) this.http.close();
    this.scheduler?.stop();
    const load = this.table.load;
    const until = Date.now() + this.table.settings.server.drainTimeoutMs;
    while (load.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    if (load.inflight > 0) this.log.warn(`drain: ${load.inflight} message(s) still under way after ${this.table.settings.server.drainTimeoutMs} ms; closing anyway`);
    this.stopSaving?.();
    for (const p of this.options.plugins) p.onClose?.();
    // Said before the transports close, so a client can tell a shutdown from a network failure.
    this.io.local.emit(SHUTDOWN_EVENT, errorEnvelope('UNAVAILABLE', 'The server is shutting down: reconnecting (another node will answer).', { reconnect: true }));
    for (const state of this.states.values()) state.dispose();
    await new Promise<void>((resolve) => void this.io.close(() => resolve()));
    if (this.metricsHttp) {
      this.metricsHttp.closeAllConnections();
      await new Promise((resolve) => this.metricsHttp!.close(resolve));
    }
    await this.cluster?.close();
    await this.db.close();
    // The summaries of lines repeated since the last one are written now, not lost.
    repeatsOf(this.log).close();
  }
}

function listen(http: HttpServer, port: number, host: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
}

/** `GET /metrics` (on the app's port or the metrics listener); `alone`: the listener, where any other path is a 404. */
function serveMetrics(req: IncomingMessage, res: ServerResponse, metrics: Metrics | undefined, alone: boolean): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
    if (alone) res.writeHead(path === '/metrics' ? 405 : 404, { 'content-type': 'text/plain' }).end(path === '/metrics' ? 'method not allowed\n' : 'not found: the metrics are at /metrics\n');
    return;
  }
  if (!metrics) {
    res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end('sockey is starting\n');
    return;
  }
  metrics.text().then(
    (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : text),
    (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error)?.message}\n`),
  );
}

/** Rooms of the app's namespace on this process, without each socket's own room. */
function roomCount(io: Server): number {
  const { rooms, sids } = io.of('/').adapter;
  let n = 0;
  for (const room of rooms.keys()) if (!sids.has(room)) n++;
  return n;
}

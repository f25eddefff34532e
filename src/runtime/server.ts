import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import { compileSource, readSettings, type BuiltinProvider, type RouteTable } from '../compile/table.js';
import type { Driver } from '../db/driver.js';
import { migrate } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { hasErrors, ManifestError, type Diagnostic } from '../manifest/diagnostics.js';
import { loadManifest } from '../manifest/load.js';
import { attachDispatcher, type DispatchTarget, type Identify } from './dispatch.js';
import { httpHandler } from './http.js';
import { createLogger } from './logger.js';
import type { SocketState } from './socket-state.js';
import type { Socket } from 'socket.io';

/** What the auth module (or another built-in) plugs into the server. */
export interface ServerPlugin {
  builtins?: BuiltinProvider;
  identify?: (call: Parameters<Identify>[0], payload: unknown, server: SockeyServer) => ReturnType<Identify>;
  onConnection?: (socket: Socket, state: SocketState, server: SockeyServer) => void | Promise<void>;
  /** Built-in schema files for a driver (applied at every start: they are idempotent). */
  schemaFiles?: (dialect: Driver['dialect'], table: { authEnabled: boolean }) => string[];
}

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
}

/** A running sockey: http + socket.io + the current route table and database. */
export class SockeyServer {
  readonly states = new Map<string, SocketState>();
  private closed = false;

  private constructor(
    readonly http: HttpServer,
    readonly io: Server,
    readonly log: Logger,
    readonly target: DispatchTarget,
    public db: Driver,
    readonly manifestPath: string,
  ) {}

  get table(): RouteTable {
    return this.target.table;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Swaps in a new table (and database) in one step; the next message uses it. */
  swap(table: RouteTable, db: Driver = this.db): void {
    this.target.table = table;
    this.db = db;
  }

  static async start(options: StartOptions = {}): Promise<SockeyServer> {
    const cwd = options.cwd ?? process.cwd();
    const env = options.env ?? process.env;
    const log = options.log ?? createLogger();
    const plugins = options.plugins ?? [];
    const manifestPath = options.manifest ?? 'sockey.yaml';

    // load -> validate -> compile -> serve
    const loaded = loadManifest(manifestPath, cwd);
    if (!loaded.source || hasErrors(loaded.diagnostics)) throw new ManifestError(loaded.diagnostics);
    const pre = readSettings(loaded.source, { env, strictEnv: true });
    if (!pre.settings || hasErrors(pre.diagnostics)) throw new ManifestError(pre.diagnostics);
    const settings = pre.settings;
    const db = openDatabase(settings.database);
    let table: RouteTable;
    try {
      const builtinFiles = plugins.flatMap((p) => p.schemaFiles?.(db.dialect, { authEnabled: settings.auth.enabled }) ?? []);
      await migrate(db, builtinFiles);
      if (settings.database.migrate) {
        const applied = await migrate(db, settings.database.schema);
        if (applied.length) log.info(`applied ${applied.length} schema file(s)`);
      }
      const compiled = await compileSource(loaded.source, { driver: db, env, strictEnv: true, builtins: combineBuiltins(plugins) });
      warn(log, compiled.diagnostics);
      if (!compiled.table) throw new ManifestError(compiled.diagnostics);
      table = compiled.table;
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }

    const s = table.settings.server;
    const http = createServer();
    const io = new Server(http, { cors: { origin: s.cors.origin, credentials: s.cors.credentials }, maxHttpBufferSize: s.maxPayload });
    const identifier = plugins.find((p) => p.identify);
    const target: DispatchTarget = { table, io, log, identify: (call, payload) => ({ user: call.state.user, payload }) };
    const server = new SockeyServer(http, io, log, target, db, loaded.source.absPath);
    if (identifier) target.identify = (call, payload) => identifier.identify!(call, payload, server);
    const connectionHooks = plugins.filter((p) => p.onConnection);
    if (connectionHooks.length) target.onConnection = async (socket, state) => {
      for (const p of connectionHooks) await p.onConnection!(socket, state, server);
    };
    attachDispatcher(target, server.states);
    const handler = httpHandler(() => server.table);
    http.on('request', (req, res) => {
      if (!res.headersSent && !(req.url ?? '').startsWith('/socket.io/')) handler(req, res);
    });

    const port = options.port ?? (env.SOCKEY_PORT !== undefined && env.SOCKEY_PORT !== '' ? Number(env.SOCKEY_PORT) : s.port);
    const host = options.host ?? s.host;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    log.info(`sockey listening on http://${host ?? '127.0.0.1'}:${server.port} (${table.routes.size} routes, ${db.description})`);
    return server;
  }

  /** Closes sockets (clearing their timers), the http server and the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.states.values()) state.dispose();
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
    await this.db.close();
  }
}

function combineBuiltins(plugins: ServerPlugin[]): BuiltinProvider | undefined {
  const providers = plugins.map((p) => p.builtins).filter((b): b is BuiltinProvider => Boolean(b));
  if (providers.length === 0) return undefined;
  return (settings, driver) => {
    const merged = { at: [] as (string | number)[], routes: {} };
    for (const provide of providers) {
      const b = provide(settings, driver);
      if (b) {
        merged.at = [...b.at];
        Object.assign(merged.routes, b.routes);
      }
    }
    return merged;
  };
}

function warn(log: Logger, diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) if (d.severity === 'warning') log.warn(`${d.file}:${d.line}:${d.col} ${d.path.join('.')}: ${d.message}`);
}


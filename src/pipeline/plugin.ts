import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { ClusterLink } from '../cluster/link.js';
import type { AuthUser, Call, CallState } from '../core/route.js';
import type { BuiltinProvider, BuiltinRoutes, RouteTable } from '../compile/table.js';
import type { Driver } from '../db/driver.js';
import type { Settings } from '../manifest/settings.js';
import type { RawManifest } from '../manifest/types.js';
import type { LiveHooks } from '../core/route.js';

/** Who sends a message, and the payload without the credentials it carried (if any). */
export interface Identity {
  user: AuthUser | null;
  payload: unknown;
}

/**
 * Who sends a message on an `auth: required | optional` route. Synchronous
 * when it can answer at once (a signed-in socket with a fresh token).
 */
export type Identify = (call: Call, payload: unknown) => Identity | Promise<Identity>;

/** What a plugin may read of the running server: the version serving now. */
export interface ServerContext {
  readonly table: RouteTable;
  readonly db: Driver;
  readonly io: Server;
  readonly log: Logger;
  /** The node's link to the cluster's Redis, with `cluster:`. */
  readonly cluster?: ClusterLink;
  /** Server-side emits (`io.serverSideEmit`) reach other processes: with `cluster:`, or between `serve --workers`. */
  readonly peers?: boolean;
}

/**
 * What a built-in (the auth module) plugs into the server: routes compiled
 * like the user's, tables, and the per-connection and per-message steps.
 */
export interface ServerPlugin {
  /** Built-in routes, compiled with the manifest's (`sockey routes` lists them as built-in); none when off. */
  builtins?: (settings: Settings, driver: Driver | undefined, routes: RawManifest['routes']) => BuiltinRoutes | undefined;
  /** Who sends a message. Plugins are asked in order; the first that finds a user wins. */
  identify?: (call: Call, payload: unknown, server: ServerContext) => Identity | Promise<Identity>;
  /** Runs once per connection (handshake authentication), for every plugin in order. */
  onConnection?: (socket: Socket, state: CallState, server: ServerContext) => void | Promise<void>;
  /** Runs once when the server is up, before the first connection (the auth module joins the cluster's session channel). */
  onStart?: (server: ServerContext) => void;
  /** After a reload swapped a new version in (the table, maybe a new database). */
  onSwap?: (server: ServerContext) => void;
  /** When the server closes. */
  onClose?: () => void;
  /** What the plugin holds now, shown by the playground (`/_sockey/state.json`, merged over all plugins). */
  inspect?: () => Record<string, unknown>;
  /** Gauges for `/metrics` (`server.metrics`), each read when scraped: `sockey_<name>`. */
  gauges?: Record<string, { help: string; value: () => number }>;
  /** Calls of `live:` routes: the live queries module subscribes their callers. */
  live?: LiveHooks;
  /** Built-in schema files for a driver (applied when they change: they are idempotent). */
  schemaFiles?: (dialect: Driver['dialect'], table: { authEnabled: boolean }) => string[];
}

/** The built-in routes of all plugins, each with the manifest path its problems point at. */
export function builtinRoutes(plugins: readonly ServerPlugin[]): BuiltinProvider | undefined {
  const providers = plugins.map((p) => p.builtins).filter((b): b is NonNullable<ServerPlugin['builtins']> => Boolean(b));
  if (providers.length === 0) return undefined;
  return (settings, driver, routes) => providers.flatMap((provide) => provide(settings, driver, routes) ?? []);
}

/** The built-in tables of all plugins for a database (sql/<driver>/*.sql). */
export function builtinSchemaFiles(plugins: readonly ServerPlugin[], dialect: Driver['dialect'], settings: Settings): string[] {
  return plugins.flatMap((p) => p.schemaFiles?.(dialect, { authEnabled: settings.auth.enabled }) ?? []);
}

/**
 * One identify step from the plugins': each is asked in order until one finds
 * a user; a payload one of them stripped of credentials goes on to the next.
 */
export function chainIdentify(plugins: readonly ServerPlugin[], server: ServerContext): Identify {
  const steps = plugins.map((p) => p.identify).filter((f): f is NonNullable<ServerPlugin['identify']> => Boolean(f));
  if (steps.length === 0) return (call, payload) => ({ user: call.state.user, payload });
  if (steps.length === 1) {
    const [only] = steps as [NonNullable<ServerPlugin['identify']>];
    return (call, payload) => only(call, payload, server);
  }
  return async (call, payload) => {
    let who: Identity = { user: null, payload };
    for (const step of steps) {
      who = await step(call, who.payload, server);
      if (who.user) return who;
    }
    return who;
  };
}

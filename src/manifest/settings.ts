import path from 'node:path';
import { parseDuration, parseSize } from '../core/duration.js';
import { compileTrustProxy, TrustProxyError, type TrustProxy } from './trust-proxy.js';
import type { DiagnosticSink } from './load.js';
import type { ManifestPath } from './diagnostics.js';
import type { RawManifest, RawRateLimit } from './types.js';

/** The server, database, socket and auth sections with defaults applied and {{env.X}} filled. */
export interface Settings {
  server: {
    port: number;
    host?: string;
    cors: { origin: string | boolean | string[]; credentials: boolean };
    maxPayload: number;
    static?: string;
    playground: boolean;
    rateLimit?: { count: number; perMs: number };
    /** server.trustProxy, compiled: which hops' X-Forwarded-For entries are believed. */
    trustProxy: TrustProxy;
    /** server.recovery: socket.io's connection-state recovery window, when on. */
    recovery?: { maxDisconnectionMs: number };
    /** server.drainTimeout: how long a stopping server lets messages under way finish. */
    drainTimeoutMs: number;
    /** server.metrics, when on: `GET /metrics` on the app's port, or (with `port`) on a listener of its own. */
    metrics?: MetricsSettings;
  };
  /** The cluster section: every node with the same Redis and prefix shares one view. */
  cluster?: ClusterSettings;
  database: DatabaseSettings;
  socket: { data: string; error: string };
  auth: {
    enabled: boolean;
    event: string;
    registerEmail: boolean;
    tokenTimeoutMs: number;
    bcryptCost: number;
    passwordPolicy: { digit: boolean; special: boolean };
    loginRateLimit: { count: number; perMs: number };
    lengths: { username: { min: number; max: number }; password: { min: number; max: number } };
  };
}

export interface MetricsSettings {
  /** A listener of its own (0: any free port); absent: the app's port. */
  port?: number;
  /** Its address (default: server.host). */
  host?: string;
}

export interface ClusterSettings {
  /** Filled Redis URL. Never log it: it may hold a password. */
  url: string;
  /** Keys and channels of this app start with `<prefix>:`. */
  prefix: string;
}

export interface DatabaseSettings {
  driver: 'sqlite' | 'mysql';
  /** Absolute path or :memory: (sqlite). */
  file: string;
  /** Filled connection URL (mysql). Never log it: it may hold a password. */
  url?: string;
  pool: number;
  /** Absolute paths of the app's schema files. */
  schema: string[];
  migrate: boolean;
}

export const DEFAULT_PORT = 8081;

/** `{ count, per }` (server.rateLimit, a route's rateLimit, auth.loginRateLimit) with `per` in ms; a problem when `per` is not a positive duration. */
export function parseRateLimit(r: RawRateLimit | undefined, at: ManifestPath, sink: DiagnosticSink): { count: number; perMs: number } | undefined {
  if (!r) return undefined;
  const perMs = parseDuration(r.per);
  if (perMs === undefined || perMs <= 0) {
    sink.error('DURATION', [...at, 'per'], `"${String(r.per)}" is not a positive duration (use 200ms, 5s, 1m, 2h)`);
    return undefined;
  }
  return { count: r.count, perMs };
}
const ENV_REF = /\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Fills {{env.X}} from `env`. Missing variables are reported (an error when
 * serving, a warning when only validating) and become empty strings.
 */
function fillEnv(value: string, env: NodeJS.ProcessEnv, sink: DiagnosticSink, at: string[], strict: boolean, encodeBefore = -1): string {
  return value.replace(ENV_REF, (_, name: string, offset: number) => {
    const v = env[name];
    if (v === undefined) {
      const msg = `environment variable ${name} is not set`;
      if (strict) sink.error('ENV', at, msg, { offset: sink.offsetOf(at, name) });
      else sink.warn('ENV', at, msg, { offset: sink.offsetOf(at, name) });
      return '';
    }
    return offset < encodeBefore ? encodeURIComponent(v) : v;
  });
}

/**
 * Where the user:password part of a URL template ends: values filled there are
 * URL-encoded (a password may hold @ or /); the rest, such as a whole URL from
 * one variable, is taken as written.
 */
function userInfoEnd(template: string): number {
  const scheme = template.indexOf('://');
  if (scheme === -1) return -1;
  const at = template.lastIndexOf('@');
  return at > scheme ? at : -1;
}

export function resolveSettings(m: RawManifest, dir: string, env: NodeJS.ProcessEnv, sink: DiagnosticSink, strictEnv: boolean): Settings {
  const s = m.server ?? {};
  const d = m.database ?? {};
  const a = m.auth ?? {};
  const port = portOf(s.port, ['server', 'port'], env, sink, strictEnv) ?? DEFAULT_PORT;
  const rate = (r: RawRateLimit | undefined, at: string[]) => parseRateLimit(r, at, sink);
  const maxPayload = s.maxPayload === undefined ? 1024 * 1024 : parseSize(s.maxPayload);
  if (maxPayload === undefined) sink.error('DURATION', ['server', 'maxPayload'], `"${s.maxPayload}" is not a size (use 512kb, 1mb)`);
  const file = d.file === undefined ? './data/sockey.db' : fillEnv(d.file, env, sink, ['database', 'file'], strictEnv);
  const driver = d.driver ?? (d.url ? 'mysql' : 'sqlite');
  if (driver === 'mysql' && !d.url) sink.error('SCHEMA', ['database'], 'the mysql driver needs a url (mysql://user:password@host:port/database)', { at: 'key' });
  const tokenTimeout = a.tokenTimeout === undefined ? 86_400 : a.tokenTimeout;
  // A bare number of tokenTimeout is seconds, as in the original sockey.
  const tokenTimeoutMs = typeof tokenTimeout === 'number' ? tokenTimeout * 1000 : parseDuration(tokenTimeout);
  if (tokenTimeoutMs === undefined) sink.error('DURATION', ['auth', 'tokenTimeout'], `"${tokenTimeout}" is not a duration`);
  let trustProxy: TrustProxy = () => false;
  try {
    trustProxy = compileTrustProxy(s.trustProxy);
  } catch (e) {
    const index = e instanceof TrustProxyError ? e.index : undefined;
    sink.error('SCHEMA', index === undefined ? ['server', 'trustProxy'] : ['server', 'trustProxy', index], (e as Error).message);
  }
  let recovery: { maxDisconnectionMs: number } | undefined;
  if (s.recovery === true) recovery = { maxDisconnectionMs: 120_000 };
  else if (typeof s.recovery === 'object') {
    const ms = parseDuration(s.recovery.maxDisconnection ?? 120_000);
    if (ms === undefined || ms <= 0) sink.error('DURATION', ['server', 'recovery', 'maxDisconnection'], `"${String(s.recovery.maxDisconnection)}" is not a positive duration`);
    else recovery = { maxDisconnectionMs: ms };
  }
  const drainTimeoutMs = s.drainTimeout === undefined ? 10_000 : parseDuration(s.drainTimeout);
  if (drainTimeoutMs === undefined) sink.error('DURATION', ['server', 'drainTimeout'], `"${String(s.drainTimeout)}" is not a duration (use 500ms, 10s, 1m)`);
  const schemaFiles = d.schema === undefined ? [] : Array.isArray(d.schema) ? d.schema : [d.schema];
  return {
    server: {
      port,
      host: s.host,
      cors: { origin: s.cors?.origin ?? '*', credentials: s.cors?.credentials ?? false },
      maxPayload: maxPayload ?? 1024 * 1024,
      static: s.static === undefined ? undefined : path.resolve(dir, s.static),
      playground: s.playground ?? true,
      rateLimit: rate(s.rateLimit, ['server', 'rateLimit']),
      trustProxy,
      recovery,
      drainTimeoutMs: drainTimeoutMs ?? 10_000,
      metrics: resolveMetrics(s.metrics, port, env, sink, strictEnv),
    },
    cluster: resolveCluster(m.cluster, env, sink, strictEnv),
    database: {
      driver,
      file: file === ':memory:' ? file : path.resolve(dir, file),
      url: d.url === undefined ? undefined : fillEnv(d.url, env, sink, ['database', 'url'], strictEnv, userInfoEnd(d.url)),
      pool: d.pool ?? 10,
      schema: schemaFiles.map((f) => path.resolve(dir, f)),
      migrate: d.migrate ?? false,
    },
    socket: { data: m.socket?.data ?? '_data', error: m.socket?.error ?? '_error' },
    auth: {
      enabled: a.enabled ?? true,
      event: a.event ?? 'auth',
      registerEmail: a.registerEmail ?? true,
      tokenTimeoutMs: tokenTimeoutMs ?? 86_400_000,
      bcryptCost: a.bcryptCost ?? 10,
      passwordPolicy: { digit: a.passwordPolicy?.digit ?? true, special: a.passwordPolicy?.special ?? true },
      loginRateLimit: rate(a.loginRateLimit, ['auth', 'loginRateLimit']) ?? { count: 5, perMs: 60_000 },
      lengths: {
        username: { min: a.lengths?.username?.min ?? 3, max: a.lengths?.username?.max ?? 32 },
        password: { min: a.lengths?.password?.min ?? 5, max: a.lengths?.password?.max ?? 60 },
      },
    },
  };
}

/** A port as written (a number, or a string with {{env.X}}), checked; undefined when absent or empty. */
function portOf(value: number | string | undefined, at: string[], env: NodeJS.ProcessEnv, sink: DiagnosticSink, strictEnv: boolean): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const filled = fillEnv(value, env, sink, at, strictEnv);
  const n = Number(filled);
  if (filled !== '' && (!Number.isInteger(n) || n < 0 || n > 65535)) sink.error('SCHEMA', at, `port must be an integer from 0 to 65535, got "${filled}"`);
  else if (filled !== '') return n;
  return undefined;
}

function resolveMetrics(m: NonNullable<RawManifest['server']>['metrics'], appPort: number, env: NodeJS.ProcessEnv, sink: DiagnosticSink, strictEnv: boolean): MetricsSettings | undefined {
  if (m === undefined || m === false) return undefined;
  if (m === true) return {};
  const port = portOf(m.port, ['server', 'metrics', 'port'], env, sink, strictEnv);
  // 0 is any free port for both: they cannot collide.
  if (port !== undefined && port !== 0 && port === appPort) {
    sink.error('SCHEMA', ['server', 'metrics', 'port'], `the metrics listener needs a port of its own (server.port is ${appPort}); use metrics: true to serve /metrics on the app's port`);
  }
  return { port: port ?? 0, host: m.host };
}

function resolveCluster(c: RawManifest['cluster'], env: NodeJS.ProcessEnv, sink: DiagnosticSink, strictEnv: boolean): ClusterSettings | undefined {
  if (!c) return undefined;
  const url = fillEnv(c.redis, env, sink, ['cluster', 'redis'], strictEnv, userInfoEnd(c.redis));
  if (url !== '' && !/^rediss?:\/\/[^/\s]+/.test(url)) {
    sink.error('SCHEMA', ['cluster', 'redis'], 'must be a redis:// or rediss:// URL (redis://host:6379, redis://:password@host:6379/0)');
  }
  return { url, prefix: c.prefix ?? 'sockey' };
}

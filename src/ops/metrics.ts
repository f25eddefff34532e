import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { ClusterLink } from '../cluster/link.js';
import type { RouteTable } from '../compile/table.js';
import type { MessageMeter } from '../core/route.js';
import type { Driver } from '../db/driver.js';
import type { ServerPlugin } from '../pipeline/plugin.js';

/** The `event` label of messages whose event no route has: one value, whatever the clients send. */
export const UNKNOWN_EVENT_LABEL = '(unknown)';

/** The `code` label of a message that succeeded. */
export const OK_CODE = 'ok';

/** Distinct error codes counted apart per route (hooks may throw codes of their own); beyond, under OTHER_CODE. */
const MAX_CODES = 32;
export const OTHER_CODE = '(other)';

/** Upper bounds of sockey_message_duration_seconds, in seconds: most messages take well under a millisecond. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const BUCKETS_MS = DURATION_BUCKETS.map((s) => s * 1000);

/**
 * What one route's messages add up to: plain numbers, so that a message costs
 * a few additions (prom-client's own label children hash their labels on every
 * `inc`/`observe`). They become metrics at scrape time.
 */
class RouteMeter implements MessageMeter {
  ok = 0;
  /** By error code. */
  readonly failed = new Map<string, number>();
  count = 0;
  sumMs = 0;
  /** Per bucket, not cumulative (cumulated at scrape time); slower than the last bound: only in `count`. */
  readonly buckets: number[] = BUCKETS_MS.map(() => 0);

  constructor(readonly event: string) {}

  done(code: string | undefined, ms: number): void {
    if (code === undefined) this.ok++;
    else {
      const key = this.failed.has(code) || this.failed.size < MAX_CODES ? code : OTHER_CODE;
      this.failed.set(key, (this.failed.get(key) ?? 0) + 1);
    }
    this.count++;
    this.sumMs += ms;
    const b = this.buckets;
    for (let i = 0; i < BUCKETS_MS.length; i++) {
      if (ms <= BUCKETS_MS[i]!) {
        b[i]!++;
        break;
      }
    }
  }
}

/** What the gauges read at scrape time: the server's state as it is then. */
export interface MetricsSources {
  /** Sockets connected to the app's namespace on this process. */
  sockets(): number;
  /** Rooms on this process (each socket's own room left out). */
  rooms(): number;
  /** The database serving now (a reload may change it). */
  db(): Driver;
  /** The manifest version serving now. */
  version(): string;
  cluster?: ClusterLink;
  plugins: readonly ServerPlugin[];
}

interface HistogramValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** The process's default metrics (CPU, memory, GC, event-loop lag): collected once per process, whatever the number of servers. */
let defaults: Registry | undefined;
function defaultRegistry(): Registry {
  if (!defaults) {
    defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
  }
  return defaults;
}

/**
 * sockey's metrics of one server, in Prometheus text format: messages by
 * route and code, their durations by route, sockets, rooms, reloads, live
 * subscriptions, the database pool, Redis, and the process's default metrics.
 * Counters live on the routes' meters (set by `attach` at each swap, kept by
 * event name across reloads so they never go back); gauges are read at scrape.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly meters = new Map<string, RouteMeter>();
  /** Messages of events no route has. */
  private readonly unknown = { count: 0 };
  private readonly reloads: Counter<'result'>;

  constructor(sources: MetricsSources) {
    const r = this.registry;
    defaultRegistry();
    const { meters, unknown } = this;
    new Counter({
      name: 'sockey_messages_total',
      help: 'Messages handled, by route (event) and outcome (code: ok, or the error code); events no route has are counted as event="(unknown)".',
      labelNames: ['event', 'code'] as const,
      registers: [r],
      collect() {
        this.reset();
        this.inc({ event: UNKNOWN_EVENT_LABEL, code: 'UNKNOWN_EVENT' }, unknown.count);
        for (const m of meters.values()) {
          this.inc({ event: m.event, code: OK_CODE }, m.ok);
          for (const [code, n] of m.failed) this.inc({ event: m.event, code }, n);
        }
      },
    });
    r.registerMetric(this.durations() as unknown as Metric);
    this.reloads = new Counter({
      name: 'sockey_reloads_total',
      help: 'Reloads of the manifest, by result (ok: swapped in; rejected: the previous version kept serving).',
      labelNames: ['result'] as const,
      registers: [r],
    });
    this.reloads.inc({ result: 'ok' }, 0);
    this.reloads.inc({ result: 'rejected' }, 0);
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(value());
        },
      });
    gauge('sockey_sockets', 'Sockets connected on this process.', () => sources.sockets());
    gauge('sockey_rooms', "Rooms on this process (each socket's own room left out).", () => sources.rooms());
    gauge('sockey_db_pool_in_use', 'Database connections in use (MySQL), or 1 while a transaction holds the SQLite connection.', () => sources.db().usage().inUse);
    gauge('sockey_db_pool_waiting', 'Statements waiting for a database connection (MySQL), or for the transaction holding the SQLite connection to end.', () => sources.db().usage().waiting);
    const link = sources.cluster;
    if (link) gauge('sockey_redis_up', "1 while the cluster's Redis answers, else 0.", () => (link.isUp ? 1 : 0));
    for (const p of sources.plugins) for (const [name, g] of Object.entries(p.gauges ?? {})) gauge(`sockey_${name}`, g.help, g.value);
    new Gauge({
      name: 'sockey_manifest_info',
      help: 'The manifest version serving (the version label, as /healthz says it); always 1.',
      labelNames: ['version'] as const,
      registers: [r],
      collect() {
        this.reset();
        this.set({ version: sources.version() }, 1);
      },
    });
  }

  /** Gives every route of `table` its meter (the one of its event, if it had one before), so that its messages are counted. */
  attach(table: RouteTable): void {
    for (const route of table.routes.values()) {
      let m = this.meters.get(route.event);
      if (!m) this.meters.set(route.event, (m = new RouteMeter(route.event)));
      route.metrics.meter = m;
    }
  }

  /** A message whose event no route has. */
  unknownEvent(): void {
    this.unknown.count++;
  }

  /** A reload ended: swapped in (`ok`) or rejected. */
  reloaded(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'ok' : 'rejected' });
  }

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  /** The text a scrape gets: sockey's metrics, then the process's. */
  async text(): Promise<string> {
    const [own, process] = await Promise.all([this.registry.metrics(), defaultRegistry().metrics()]);
    return own + '\n' + process;
  }

  /** sockey_message_duration_seconds, from the meters: a metric as prom-client's registry formats one. */
  private durations() {
    const meters = this.meters;
    return {
      name: 'sockey_message_duration_seconds',
      help: 'Time from a message to its answer (or its error), by route (event).',
      type: 'histogram',
      aggregator: 'sum',
      reset: () => undefined,
      get: async () => {
        const values: HistogramValue[] = [];
        for (const m of meters.values()) {
          let acc = 0;
          for (let i = 0; i < DURATION_BUCKETS.length; i++) {
            acc += m.buckets[i]!;
            values.push({ labels: { event: m.event, le: DURATION_BUCKETS[i]! }, value: acc, metricName: 'sockey_message_duration_seconds_bucket' });
          }
          values.push({ labels: { event: m.event, le: '+Inf' }, value: m.count, metricName: 'sockey_message_duration_seconds_bucket' });
          values.push({ labels: { event: m.event }, value: m.sumMs / 1000, metricName: 'sockey_message_duration_seconds_sum' });
          values.push({ labels: { event: m.event }, value: m.count, metricName: 'sockey_message_duration_seconds_count' });
        }
        return { name: 'sockey_message_duration_seconds', help: 'Time from a message to its answer (or its error), by route (event).', type: 'histogram', aggregator: 'sum', values };
      },
    };
  }
}

import type { Logger } from 'pino';
import type { RedisClientType } from 'redis';
import type { createAdapter } from '@socket.io/redis-streams-adapter';
import type * as RateLimiters from 'rate-limiter-flexible';
import type { ClusterSettings } from '../manifest/settings.js';

/**
 * The longest wait between reconnection attempts while Redis is unreachable: once it
 * answers again, cross-node delivery resumes within about this long. An attempt that
 * is refused costs a few microseconds.
 */
const MAX_RETRY_MS = 500;

/**
 * How long an emit waits for Redis to take its stream entry before it is delivered to
 * this node's sockets anyway (socket.io's cluster adapter delivers locally only after
 * the write). Matters when Redis hangs with the connection open (a stopped process, a
 * network partition): a refused connection fails at once.
 */
const XADD_DEADLINE_MS = 250;

/** How long a close waits for commands in flight before it drops the connection. */
const CLOSE_GRACE_MS = 1000;

/** What a link loads when it opens. */
interface ClusterModules {
  createClient: typeof import('redis').createClient;
  createAdapter: typeof createAdapter;
  rateLimiters: typeof RateLimiters;
}

/**
 * One node's connection to the cluster's Redis: the client behind socket.io's
 * Redis streams adapter and sockey's own shared state (sessions, limits,
 * schedules). Redis being down never stops the node: commands fail at once
 * (no offline queue), so emits still reach this node's sockets, and the link
 * reconnects by itself, with one log line each way.
 */
export class ClusterLink {
  /** sockey's own client: commands reject at once while Redis is down (no offline queue). */
  readonly client: RedisClientType;
  readonly prefix: string;
  private up = false;
  private announcedDown = false;
  private closed = false;
  /** How many times Redis came (back) up: a write sent before the last time says nothing about now. */
  private upCount = 0;
  /** The adapter's readers (XREAD, SUBSCRIBE), closed with the link. */
  private readonly duplicates = new Set<RedisClientType>();
  /** Their first connections: settled true when connected, false when it failed. */
  private readonly readers: Promise<boolean>[] = [];

  private constructor(
    settings: ClusterSettings,
    private readonly log: Logger,
    private readonly modules: ClusterModules,
  ) {
    this.prefix = settings.prefix;
    const client = modules.createClient({
      url: settings.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, MAX_RETRY_MS), connectTimeout: 2000 },
    }) as RedisClientType;
    client.on('ready', () => this.markUp());
    client.on('error', (e: Error) => this.markDown(e.message));
    client.on('end', () => {
      this.up = false;
    });
    this.client = client;
  }

  /** Redis answers (again): one line after an outage. */
  private markUp(): void {
    this.up = true;
    this.upCount++;
    if (this.announcedDown && !this.closed) this.log.info('redis is reachable again: cross-node delivery resumes');
    this.announcedDown = false;
  }

  /** Redis refused, dropped or did not answer: one line per outage (node-redis reports every failed attempt). */
  private markDown(why: string): void {
    this.up = false;
    if (this.announcedDown || this.closed) return;
    this.announcedDown = true;
    this.log.warn({ err: why }, 'redis is unreachable: serving this node only until it returns');
  }

  /**
   * The client as the adapter sees it: the same connection (an object on top of the
   * client, as node-redis builds its own command-option views), with four changes.
   *
   * - Its duplicates (the XREAD reader, the SUBSCRIBE client) keep the offline queue,
   *   so while Redis is down they wait for it instead of failing in a loop, and they
   *   are remembered, so that `close()` ends them (a reader waiting in the offline
   *   queue would otherwise keep reconnecting, and the process alive, after SIGTERM).
   *   Their `connect()` never rejects: when the link closes before Redis ever
   *   answered, the adapter (which does not catch it) simply never starts them.
   *   Their SUBSCRIBE, which the adapter does not await either, cannot reject unhandled.
   * - `publish`/`sPublish` (fetchSockets and serverSideEmit requests) and `set`
   *   (the session of a socket that leaves, with `server.recovery`) are sent by the
   *   adapter without awaiting them: a refusal while Redis is down must not become an
   *   unhandled rejection, which ends the process.
   * - `xAdd` (every emit to other nodes) gives up after XADD_DEADLINE_MS, so that a
   *   Redis that hangs instead of refusing does not hold the delivery to this node's
   *   own sockets (the adapter delivers locally once the write settles).
   */
  private adapterClient(): RedisClientType {
    const client = this.client;
    const swallow =
      <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      (...args: A) =>
        fn(...args).catch(() => null);
    const publish = swallow(client.publish.bind(client));
    const sPublish = swallow(client.sPublish.bind(client));
    const set = swallow(client.set.bind(client));
    const duplicate = (overrides?: object) => {
      const dup = client.duplicate({ ...overrides, disableOfflineQueue: false }) as RedisClientType;
      this.duplicates.add(dup);
      const connect = dup.connect.bind(dup);
      dup.connect = (() => {
        const connected = connect();
        this.readers.push(
          connected.then(
            () => true,
            () => false,
          ),
        );
        return connected.catch(() => new Promise(() => undefined));
      }) as typeof dup.connect;
      // The adapter does not await SUBSCRIBE: a connection lost before Redis confirms
      // it would be an unhandled rejection. node-redis subscribes again on reconnect.
      for (const name of ['subscribe', 'sSubscribe'] as const) {
        const subscribe = (dup[name] as (...args: unknown[]) => Promise<void>).bind(dup);
        (dup as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
          const confirmed = subscribe(...args);
          confirmed.catch(() => undefined);
          return confirmed;
        };
      }
      return dup;
    };
    const xAddNow = client.xAdd.bind(client);
    const xAdd = (...args: Parameters<typeof xAddNow>): Promise<string> => {
      const written = xAddNow(...args);
      const since = this.upCount;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          // After this turn's socket reads: an event loop that was busy for a while (not Redis) has its answer waiting there.
          () =>
            setImmediate(() => {
              if (settled) return;
              if (since === this.upCount) this.markDown(`no answer in ${XADD_DEADLINE_MS} ms`);
              reject(new Error('redis did not answer in time'));
            }),
          XADD_DEADLINE_MS,
        );
      });
      // A late answer means Redis is back; the entry then reaches the other nodes late.
      written.then(
        () => {
          settled = true;
          clearTimeout(timer);
          if (!this.up) this.markUp();
        },
        () => {
          settled = true;
          clearTimeout(timer);
        },
      );
      return Promise.race([written, late]);
    };
    const overrides = { publish, PUBLISH: publish, sPublish, SPUBLISH: sPublish, set, SET: set, xAdd, XADD: xAdd, duplicate };
    return Object.assign(Object.create(client) as object, overrides) as unknown as RedisClientType;
  }

  /**
   * Loads the Redis client, the adapter and the limiter library (about 700 modules and
   * 5 MB of heap that a node without `cluster:` never loads), then connects in the
   * background: a node starts (and serves its own sockets) whether Redis answers or not.
   */
  static async open(settings: ClusterSettings, log: Logger): Promise<ClusterLink> {
    const [redis, adapter, rateLimiters] = await Promise.all([import('redis'), import('@socket.io/redis-streams-adapter'), import('rate-limiter-flexible')]);
    const link = new ClusterLink(settings, log, { createClient: redis.createClient, createAdapter: adapter.createAdapter, rateLimiters });
    link.client.connect().catch(() => undefined);
    return link;
  }

  /** rate-limiter-flexible, loaded with the link (shared limits use it). */
  get rateLimiters(): typeof RateLimiters {
    return this.modules.rateLimiters;
  }

  /** Waits (up to `ms`) for the first connection; false when Redis did not answer in time. */
  async ready(ms = 2000): Promise<boolean> {
    if (this.up) return true;
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.client.on('ready', onReady);
    });
  }

  /**
   * Waits (up to `ms`) until the adapter's readers are connected and have sent
   * their first XREAD and SUBSCRIBE, so that a node that says it serves also
   * hears the other nodes' emits from then on. Redis being down does not hold
   * a start: a reader that cannot connect ends the wait.
   */
  async readersReady(ms = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    const connected = Promise.all(this.readers).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    await Promise.race([connected, late]);
    clearTimeout(timer);
  }

  get isUp(): boolean {
    return this.up;
  }

  /** A key or channel of this app. */
  key(name: string): string {
    return `${this.prefix}:${name}`;
  }

  /** socket.io's adapter for every namespace of this node, on this app's stream and channels. */
  adapter(): ReturnType<typeof createAdapter> {
    return this.modules.createAdapter(this.adapterClient(), {
      streamName: this.key('stream'),
      channelPrefix: this.key('io'),
      sessionKeyPrefix: this.key('session:'),
      // Local delivery waits for the stream write; a short block keeps shutdown quick.
      blockTimeInMs: 1000,
    });
  }

  /**
   * Ends the link: the adapter's readers at once (they only wait for Redis), then
   * sockey's client, after its commands in flight (at most a second) when Redis is up.
   * Redis being down never holds a shutdown.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const dup of this.duplicates) dup.destroy();
    this.duplicates.clear();
    if (this.client.isReady) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([this.client.close().catch(() => undefined), grace]);
      clearTimeout(timer);
    }
    this.client.destroy();
  }
}

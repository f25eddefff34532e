import type { Logger } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { ClusterSettings } from '../manifest/settings.js';

/** The longest wait between reconnection attempts while Redis is unreachable. */
const MAX_RETRY_MS = 1000;

/**
 * One node's connection to the cluster's Redis: the client behind socket.io's
 * Redis streams adapter and sockey's own shared state (sessions, limits,
 * schedules). Redis being down never stops the node: commands fail at once
 * (no offline queue), so emits still reach this node's sockets, and the link
 * reconnects by itself, with one log line each way.
 */
export class ClusterLink {
  readonly client: RedisClientType;
  readonly prefix: string;
  private up = false;
  private announcedDown = false;
  private closed = false;

  private constructor(
    settings: ClusterSettings,
    private readonly log: Logger,
  ) {
    this.prefix = settings.prefix;
    const client = createClient({
      url: settings.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, MAX_RETRY_MS), connectTimeout: 2000 },
    }) as RedisClientType;
    // The adapter's readers (XREAD, SUBSCRIBE) are duplicates: they keep the offline queue, so
    // while Redis is down they wait for it instead of failing in a loop.
    const duplicate = client.duplicate.bind(client);
    client.duplicate = ((overrides?: object) => duplicate({ ...overrides, disableOfflineQueue: false })) as typeof client.duplicate;
    // The adapter publishes fetchSockets and serverSideEmit requests without awaiting them: a
    // refusal while Redis is down must not become an unhandled rejection (which ends the process).
    const publish = client.publish.bind(client);
    (client as { publish: unknown }).publish = (...args: Parameters<typeof publish>) => publish(...args).catch(() => 0);
    // So does its SET of a disconnecting socket's session (connection-state recovery): the session is then lost, the node is not.
    const set = client.set.bind(client);
    (client as { set: unknown }).set = (...args: Parameters<typeof set>) => set(...args).catch(() => null);
    client.on('ready', () => {
      this.up = true;
      if (this.announcedDown) this.log.info('redis is reachable again: cross-node delivery resumes');
      this.announcedDown = false;
    });
    client.on('error', (e: Error) => {
      this.up = false;
      if (this.announcedDown || this.closed) return;
      this.announcedDown = true;
      this.log.warn({ err: e.message }, 'redis is unreachable: serving this node only until it returns');
    });
    client.on('end', () => {
      this.up = false;
    });
    this.client = client;
  }

  /** Connects in the background: a node starts (and serves its own sockets) whether Redis answers or not. */
  static open(settings: ClusterSettings, log: Logger): ClusterLink {
    const link = new ClusterLink(settings, log);
    link.client.connect().catch(() => undefined);
    return link;
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

  get isUp(): boolean {
    return this.up;
  }

  /** A key or channel of this app. */
  key(name: string): string {
    return `${this.prefix}:${name}`;
  }

  /** socket.io's adapter for every namespace of this node, on this app's stream and channels. */
  adapter(): ReturnType<typeof createAdapter> {
    return createAdapter(this.client, {
      streamName: this.key('stream'),
      channelPrefix: this.key('io'),
      sessionKeyPrefix: this.key('session:'),
      // Local delivery waits for the stream write; a short block keeps shutdown quick.
      blockTimeInMs: 1000,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client.isOpen) await this.client.close().catch(() => undefined);
    else this.client.destroy();
  }
}

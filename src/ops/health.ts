import type { ClusterLink } from '../cluster/link.js';
import type { Driver } from '../db/driver.js';

/** What `/readyz` answers (200 when `ok`, else 503). */
export interface Readiness {
  ok: boolean;
  version: string | null;
  database: 'up' | 'down';
  /** With `cluster:` only. */
  redis?: 'up' | 'down';
}

/** How long a check may wait for the database (or Redis) to answer. */
export const READY_TIMEOUT_MS = 1000;
/** How long an answer is reused: a storm of probes costs the database one `SELECT 1` a second. */
export const READY_CACHE_MS = 1000;

export interface ReadinessSources {
  /** The database serving now (a reload may change it). */
  db(): Driver;
  version(): string;
  cluster?: ClusterLink;
}

/**
 * The readiness check: `SELECT 1` on the database (and a PING to Redis with
 * `cluster:`), each bounded by READY_TIMEOUT_MS, run at most once per
 * READY_CACHE_MS however many probes ask (those asking meanwhile share it).
 */
export class ReadinessCheck {
  private last: { at: number; database: Readiness['database']; redis?: Readiness['redis'] } | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly sources: ReadinessSources,
    private readonly timeoutMs = READY_TIMEOUT_MS,
    private readonly cacheMs = READY_CACHE_MS,
  ) {}

  async check(): Promise<Readiness> {
    if (!this.last || performance.now() - this.last.at >= this.cacheMs) {
      this.running ??= this.run().finally(() => (this.running = undefined));
      await this.running;
    }
    const { database, redis } = this.last!;
    const ok = database === 'up' && (redis === undefined || redis === 'up');
    return { ok, version: this.sources.version(), database, ...(redis === undefined ? {} : { redis }) };
  }

  private async run(): Promise<void> {
    const link = this.sources.cluster;
    const [database, redis] = await Promise.all([
      answers(() => this.sources.db().ping(), this.timeoutMs),
      // Refused at once while the link is down (no offline queue); a Redis that hangs times out.
      link ? answers(() => link.client.ping(), this.timeoutMs) : undefined,
    ]);
    this.last = { at: performance.now(), database, redis };
  }
}

/** `up` when `probe` resolves within `ms`. */
async function answers(probe: () => Promise<unknown>, ms: number): Promise<'up' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'down'>((resolve) => (timer = setTimeout(() => resolve('down'), ms)));
  try {
    return await Promise.race([
      probe().then(
        () => 'up' as const,
        () => 'down' as const,
      ),
      late,
    ]);
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

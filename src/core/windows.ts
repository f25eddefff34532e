/** Events counted in a fixed window that opened at `start`. */
export interface Window {
  start: number;
  count: number;
}

/**
 * Fixed windows of `perMs` by key (rate limits per user, login failures per
 * name and address). Memory is bounded: dead windows are swept as the map
 * grows, and past `max` keys the oldest windows are forgotten first.
 */
export class FixedWindows<K> {
  private readonly windows = new Map<K, Window>();
  private sweepAt: number;

  constructor(
    readonly perMs: number,
    private readonly max = 100_000,
    private readonly sweepFrom = 10_000,
  ) {
    this.sweepAt = sweepFrom;
  }

  get size(): number {
    return this.windows.size;
  }

  /** The key's window while it is open, else undefined. */
  live(key: K, now: number): Window | undefined {
    const w = this.windows.get(key);
    return w && now - w.start < this.perMs ? w : undefined;
  }

  /** The key's open window, or a new empty one opening now. */
  open(key: K, now: number): Window {
    const w = this.live(key, now);
    if (w) return w;
    if (this.windows.size >= this.sweepAt) this.sweep(now);
    const fresh = { start: now, count: 0 };
    // Deleted first so that the map's order stays the order windows opened in.
    this.windows.delete(key);
    this.windows.set(key, fresh);
    return fresh;
  }

  /** True while `w` is still the key's window (a refund must not touch a newer one). */
  holds(key: K, w: Window): boolean {
    return this.windows.get(key) === w;
  }

  delete(key: K): void {
    this.windows.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.perMs) this.windows.delete(key);
    // Still too many (a flood from very many keys): forget the oldest, down to 90 %.
    const keep = Math.floor(this.max * 0.9);
    for (const key of this.windows.keys()) {
      if (this.windows.size <= keep) break;
      this.windows.delete(key);
    }
    this.sweepAt = Math.min(this.max, Math.max(this.sweepFrom, this.windows.size * 2));
  }
}

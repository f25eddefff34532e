/**
 * The timers of one socket, grouped by a key (the route that started them, or
 * `hook:<route>` for a hook's own). Starting a route's timers again replaces
 * them; a sign-out clears those started as the user; a disconnect clears all.
 */
export class SocketTimers {
  private readonly byKey = new Map<string, Set<NodeJS.Timeout>>();
  /** Keys whose timers run as the signed-in user: a sign-out clears them. */
  private readonly signedIn = new Set<string>();
  private disposed = false;

  /** Runs `fn` once after `ms`, under `key`; `asUser` when it acts as the signed-in user. */
  after(key: string, ms: number, fn: () => void, asUser = false): NodeJS.Timeout | undefined {
    if (this.disposed) return undefined;
    const t: NodeJS.Timeout = setTimeout(() => {
      this.byKey.get(key)?.delete(t);
      fn();
    }, ms);
    this.track(key, t, asUser);
    return t;
  }

  /** Runs `fn` every `ms`, under `key`, until cleared. */
  every(key: string, ms: number, fn: () => void, asUser = false): NodeJS.Timeout | undefined {
    if (this.disposed) return undefined;
    const t = setInterval(fn, Math.max(ms, 1));
    this.track(key, t, asUser);
    return t;
  }

  /** Stops one timer. */
  remove(key: string, t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.byKey.get(key)?.delete(t);
  }

  /** Stops every timer under a key (a route invoked again, or changed by a reload). */
  clear(key: string): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const t of set) clearTimeout(t);
    this.byKey.delete(key);
    this.signedIn.delete(key);
  }

  /** Clears every timer started as the signed-in user (a logout, expiry or revocation). */
  clearSignedIn(): void {
    for (const key of [...this.signedIn]) this.clear(key);
  }

  /** The socket is gone: every timer stops, and none can start. */
  clearAll(): void {
    this.disposed = true;
    for (const key of [...this.byKey.keys()]) this.clear(key);
  }

  /** Keys with live timers (what a reload clears and tests inspect). */
  routes(): string[] {
    return [...this.byKey.entries()].filter(([, s]) => s.size > 0).map(([k]) => k);
  }

  count(): number {
    let n = 0;
    for (const s of this.byKey.values()) n += s.size;
    return n;
  }

  private track(key: string, t: NodeJS.Timeout, asUser: boolean): void {
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    if (asUser) this.signedIn.add(key);
    set.add(t);
  }
}

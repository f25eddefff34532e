/**
 * The timers of one socket, grouped by the route that started them. Starting a
 * route's timers again replaces them; a disconnect clears them all.
 */
export class SocketTimers {
  private readonly byRoute = new Map<string, Set<NodeJS.Timeout>>();
  /** Keys whose timers run as the signed-in user: a sign-out clears them. */
  private readonly signedIn = new Set<string>();
  private disposed = false;

  /** Replaces the route's timers with the ones `start` creates; `asUser` when they act as the signed-in user. */
  replace(route: string, start: (track: (t: NodeJS.Timeout) => void, untrack: (t: NodeJS.Timeout) => void) => void, asUser = false): void {
    this.clear(route);
    if (this.disposed) return;
    const set = new Set<NodeJS.Timeout>();
    this.byRoute.set(route, set);
    if (asUser) this.signedIn.add(route);
    start((t) => set.add(t), (t) => set.delete(t));
  }

  /** Adds one timer under a key without clearing the others (hooks' ctx.timers). */
  add(key: string, t: NodeJS.Timeout, asUser = false): void {
    if (this.disposed) {
      clearTimeout(t);
      return;
    }
    let set = this.byRoute.get(key);
    if (!set) this.byRoute.set(key, (set = new Set()));
    if (asUser) this.signedIn.add(key);
    set.add(t);
  }

  /** Clears every timer started as the signed-in user (a logout, expiry or revocation). */
  clearSignedIn(): void {
    for (const key of [...this.signedIn]) this.clear(key);
  }

  remove(key: string, t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.byRoute.get(key)?.delete(t);
  }

  clear(route: string): void {
    const set = this.byRoute.get(route);
    if (!set) return;
    for (const t of set) clearTimeout(t);
    this.byRoute.delete(route);
    this.signedIn.delete(route);
  }

  clearAll(): void {
    this.disposed = true;
    for (const route of [...this.byRoute.keys()]) this.clear(route);
  }

  /** Routes with live timers (what a reload clears and tests inspect). */
  routes(): string[] {
    return [...this.byRoute.entries()].filter(([, s]) => s.size > 0).map(([r]) => r);
  }

  count(): number {
    let n = 0;
    for (const s of this.byRoute.values()) n += s.size;
    return n;
  }
}

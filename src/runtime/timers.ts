/**
 * The timers of one socket, grouped by the route that started them. Starting a
 * route's timers again replaces them; a disconnect clears them all.
 */
export class SocketTimers {
  private readonly byRoute = new Map<string, Set<NodeJS.Timeout>>();
  private disposed = false;

  /** Replaces the route's timers with the ones `start` creates. */
  replace(route: string, start: (track: (t: NodeJS.Timeout) => void, untrack: (t: NodeJS.Timeout) => void) => void): void {
    this.clear(route);
    if (this.disposed) return;
    const set = new Set<NodeJS.Timeout>();
    this.byRoute.set(route, set);
    start((t) => set.add(t), (t) => set.delete(t));
  }

  /** Adds one timer under a key without clearing the others (hooks' ctx.timers). */
  add(key: string, t: NodeJS.Timeout): void {
    if (this.disposed) {
      clearTimeout(t);
      return;
    }
    let set = this.byRoute.get(key);
    if (!set) this.byRoute.set(key, (set = new Set()));
    set.add(t);
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

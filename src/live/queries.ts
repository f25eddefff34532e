import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { PeerChannel } from '../cluster/peers.js';
import type { RouteTable } from '../compile/table.js';
import { dataEnvelope, errorEnvelope } from '../core/envelope.js';
import type { AuthUser, Call, CallState, LiveReads, Route } from '../core/route.js';
import { ANY_TABLE } from '../db/sql-tables.js';
import type { Write } from '../db/tracking.js';
import { nextMessageId } from '../core/message-id.js';
import { logRepeated } from '../core/repeats.js';

/**
 * A group re-runs at most once per this long: the first write after a quiet
 * spell re-runs it at once (next turn of the event loop), writes in a burst
 * coalesce into one re-run at the end of the window.
 */
export const COALESCE_MS = 4;

/** Why a subscription ended without the client asking (`details.reason` of LIVE_ENDED). */
export type EndReason = 'signed-out' | 'forbidden' | 'removed' | 'changed' | 'failed' | 'limit';

/** Subscriptions one socket may hold: each costs memory and re-runs, so one client cannot pile them up. */
export const MAX_PER_SOCKET = 100;

const END_TEXT: Record<EndReason, string> = {
  'signed-out': 'Live query ended: signed out.',
  forbidden: 'Live query ended: forbidden.',
  removed: 'Live query ended: the route is no longer live.',
  changed: 'Live query ended: the route changed and its params no longer fit.',
  failed: 'Live query ended: it failed to re-run.',
  limit: `Live query not made: a socket holds at most ${MAX_PER_SOCKET} subscriptions (unsubscribe from one first).`,
};

interface Subscriber {
  socket: Socket;
  state: CallState;
  /** Who subscribed (the guard is checked for them). */
  user: AuthUser | null;
  /** The hash of the result this socket last received. */
  sent: string;
  /** The guard's key values for this subscriber (parallel to the plan's guard keys). */
  guardKeys: string[];
  /** diff: the rows this socket last received, when they are not the group's. */
  base?: Rows;
  /** Ends this subscription when the user who made it signs out. */
  release?: () => void;
}

/** One route + params set (+ user, when the result depends on who asks): run once for all its subscribers. */
interface Group {
  readonly key: string;
  route: Route;
  params: Record<string, unknown>;
  /** The user the query runs as: set only when the result depends on it. */
  user: AuthUser | null;
  /** The query's key values (parallel to the plan's query keys). */
  keys: string[];
  readonly subscribers: Map<string, Subscriber>;
  hash: string;
  /** diff: the last result's rows by key. */
  rows?: Rows;
  running: boolean;
  again: boolean;
  /** When its last re-run started (performance.now()). */
  ranAt: number;
}

export interface LiveStats {
  subscriptions: number;
  groups: number;
  reruns: number;
  pushes: number;
}

/**
 * The live subscriptions of this node (SPEC §7). A write through sockey
 * (reported by the database driver after it committed, here or on another
 * node) marks the groups whose reads it can concern; after COALESCE_MS each
 * marked group re-runs once, and each subscriber whose last result differs
 * gets the new one. Guards are checked again for the subscribers a write to
 * the guard's tables may concern.
 */
export class LiveQueries {
  private readonly groups = new Map<string, Map<string, Group>>();
  private readonly bySocket = new Map<string, Set<Group>>();
  /** Counts writes seen: a call that saw it move while it ran re-runs its group once subscribed. */
  private seq = 0;
  private readonly started = new WeakMap<Call, number>();
  private readonly dirty = new Set<Group>();
  private readonly guardDirty = new Map<Group, Set<Subscriber>>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushSoon: NodeJS.Immediate | undefined;
  private readonly polls = new Map<string, NodeJS.Timeout>();
  private table: RouteTable;
  private closed = false;
  readonly stats: LiveStats = { subscriptions: 0, groups: 0, reruns: 0, pushes: 0 };
  /** Told of every push (the playground shows them). */
  onPush?: (event: string, params: Record<string, unknown>, subscribers: number) => void;

  constructor(
    private readonly io: Server,
    private readonly log: Logger,
    table: RouteTable,
    private readonly peers?: PeerChannel<Write[]>,
  ) {
    this.table = table;
    peers?.receive((writes) => {
      if (Array.isArray(writes)) this.apply(writes);
    });
  }

  /** A call of a live route begins (before its read runs). */
  begin(call: Call): void {
    this.started.set(call, this.seq);
  }

  /** A live route answered `res` to the caller: it is subscribed (again, with the same params: one subscription). */
  subscribe(call: Call, res: unknown): void {
    const route = call.route;
    const plan = route.live;
    if (!plan || this.closed || !call.socket.connected) return;
    if (this.table.routes.get(route.event) !== route) return;
    const key = groupKey(call.params, plan.byUser ? call.auth : null);
    const held = this.bySocket.get(call.socket.id);
    if (held && held.size >= MAX_PER_SOCKET && ![...held].some((g) => g.key === key && g.route.event === route.event)) {
      call.socket.emit(route.errorEvent, errorEnvelope('LIVE_ENDED', END_TEXT.limit, { reason: 'limit', event: route.event, params: call.params }));
      return;
    }
    let byKey = this.groups.get(route.event);
    if (!byKey) this.groups.set(route.event, (byKey = new Map()));
    let group = byKey.get(key);
    const json = JSON.stringify(res) ?? 'null';
    const hash = digest(json);
    if (!group) {
      group = {
        key,
        route,
        params: call.params,
        user: plan.byUser ? call.auth : null,
        keys: plan.query.keys.map((k) => k.value(call)),
        subscribers: new Map(),
        hash,
        rows: plan.diff ? rowsByKey(res, plan.diff) : undefined,
        running: false,
        again: false,
        ranAt: -Infinity,
      };
      byKey.set(key, group);
      this.stats.groups++;
      this.startPolling(route);
    }
    const old = group.subscribers.get(call.socket.id);
    if (old) old.release?.();
    else this.stats.subscriptions++;
    const sub: Subscriber = { socket: call.socket, state: call.state, user: call.auth, sent: hash, guardKeys: plan.guard?.keys.map((k) => k.value(call)) ?? [] };
    if (plan.diff && hash !== group.hash) sub.base = rowsByKey(res, plan.diff);
    group.subscribers.set(call.socket.id, sub);
    this.track(call.socket, group);
    if (call.auth) {
      // Made as a signed-in user: it ends with their session, like the rooms joined as them.
      const end = () => this.end(group, sub, 'signed-out');
      sub.release = () => call.state.signedInEnds.delete(end);
      call.state.signedInEnds.add(end);
    }
    // A write while the read ran may not be in `res`; nor in the group's last result.
    if (this.started.get(call) !== this.seq || hash !== group.hash) this.mark(group);
  }

  /** Stops the socket's subscription to `event` with these (validated) params; how many it stopped (0 or 1). */
  unsubscribe(socket: Socket, event: string, params: Record<string, unknown>, user: AuthUser | null): number {
    const group = this.groups.get(event)?.get(groupKey(params, this.table.routes.get(event)?.live?.byUser ? user : null));
    const sub = group?.subscribers.get(socket.id);
    if (!group || !sub) return 0;
    this.remove(group, sub);
    return 1;
  }

  /** Writes committed through this node's driver: applied here, and sent to the other nodes. */
  written(writes: Write[]): void {
    this.peers?.send(writes);
    this.apply(writes);
  }

  /** A new version serves: subscriptions of a removed route end, those of a changed one re-run under it. */
  swap(table: RouteTable): void {
    this.table = table;
    for (const [event, byKey] of this.groups) {
      const next = table.routes.get(event);
      for (const group of [...byKey.values()]) {
        if (group.route === next) continue;
        if (!next?.live) {
          this.endGroup(group, 'removed');
          continue;
        }
        let params: Record<string, unknown>;
        try {
          params = next.validate(group.params);
        } catch {
          this.endGroup(group, 'changed');
          continue;
        }
        group.route = next;
        group.params = params;
        const call = this.callFor(group, group.user);
        group.keys = next.live.query.keys.map((k) => k.value(call));
        for (const sub of group.subscribers.values()) sub.guardKeys = next.live.guard?.keys.map((k) => k.value({ params, auth: sub.user })) ?? [];
        if (next.guard) this.suspect(group, group.subscribers.values());
        this.mark(group);
      }
      this.stopPolling(event);
      if (next?.live && byKey.size) this.startPolling(next);
    }
  }

  /** The route serving `event` now. */
  route(event: string): Route | undefined {
    return this.table.routes.get(event);
  }

  /** Subscriptions, for the playground: event, params and how many sockets share them. */
  list(): Array<{ event: string; params: Record<string, unknown>; subscribers: number }> {
    const out: Array<{ event: string; params: Record<string, unknown>; subscribers: number }> = [];
    for (const [event, byKey] of this.groups) for (const g of byKey.values()) out.push({ event, params: g.params, subscribers: g.subscribers.size });
    return out;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.flushTimer);
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.dirty.clear();
    this.guardDirty.clear();
    for (const t of this.polls.values()) clearInterval(t);
    this.polls.clear();
    this.groups.clear();
    this.bySocket.clear();
  }

  private apply(writes: readonly Write[]): void {
    this.seq++;
    for (const byKey of this.groups.values()) {
      const plan = byKey.values().next().value?.route.live;
      if (!plan) continue;
      const touchesQuery = writes.filter((w) => reads(plan.query, w.table));
      const touchesGuard = plan.guard ? writes.filter((w) => reads(plan.guard!, w.table)) : [];
      if (!touchesQuery.length && !touchesGuard.length) continue;
      for (const group of byKey.values()) {
        if (touchesQuery.some((w) => concerns(w, plan.query, group.keys))) {
          this.mark(group);
          if (plan.guardEachRun) this.suspect(group, group.subscribers.values());
        }
        if (!touchesGuard.length) continue;
        for (const sub of group.subscribers.values()) {
          if (!touchesGuard.some((w) => concerns(w, plan.guard!, sub.guardKeys))) continue;
          this.suspect(group, [sub]);
          this.mark(group);
        }
      }
    }
  }

  /** These subscribers' guard is checked before the group's next re-run. */
  private suspect(group: Group, subs: Iterable<Subscriber>): void {
    let set = this.guardDirty.get(group);
    if (!set) this.guardDirty.set(group, (set = new Set()));
    for (const sub of subs) set.add(sub);
  }

  private mark(group: Group): void {
    this.dirty.add(group);
    if (this.flushSoon === undefined && !this.closed) this.flushSoon = setImmediate(() => this.flush());
  }

  /** Re-runs the marked groups whose window has passed; the others wait for theirs. */
  private flush(): void {
    this.flushSoon = undefined;
    if (this.closed) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const now = performance.now();
    let wait = Infinity;
    for (const group of this.dirty) {
      const due = group.ranAt + COALESCE_MS - now;
      if (due > 0 && !group.running) {
        wait = Math.min(wait, due);
        continue;
      }
      this.dirty.delete(group);
      void this.rerun(group);
    }
    if (wait !== Infinity && !this.closed) this.flushTimer = setTimeout(() => this.flush(), Math.ceil(wait));
  }

  /** One re-run of a group: the guard for the subscribers a write may have shut out, then the query. */
  private async rerun(group: Group): Promise<void> {
    if (group.running) {
      group.again = true;
      return;
    }
    group.running = true;
    group.ranAt = performance.now();
    try {
      const route = group.route;
      const suspects = this.guardDirty.get(group);
      this.guardDirty.delete(group);
      if (suspects && route.guard) {
        for (const sub of suspects) {
          if (!group.subscribers.has(sub.socket.id)) continue;
          let pass = false;
          try {
            pass = await route.guard(this.callFor(group, sub.user, sub));
          } catch (e) {
            const err = (e as Error)?.message;
            logRepeated(this.log, 'warn', { event: route.event, err }, 'live: guard failed to run; ending the subscription', [route.event, err]);
          }
          if (!pass) this.end(group, sub, 'forbidden');
        }
      }
      if (group.subscribers.size === 0) return;
      let res: unknown;
      try {
        res = await route.action(this.callFor(group, group.user));
      } catch (e) {
        const err = (e as Error)?.message;
        logRepeated(this.log, 'warn', { event: route.event, err }, 'live: re-run failed; ending its subscriptions', [route.event, err]);
        this.endGroup(group, 'failed');
        return;
      }
      this.stats.reruns++;
      if (route !== group.route) return void (group.again = true);
      this.push(group, res);
    } finally {
      group.running = false;
      if (group.again) {
        group.again = false;
        this.mark(group);
      }
    }
  }

  private push(group: Group, res: unknown): void {
    const json = JSON.stringify(res) ?? 'null';
    const hash = digest(json);
    const plan = group.route.live!;
    const before = group.rows;
    const previous = group.hash;
    group.hash = hash;
    let sent = 0;
    let rows: Rows | undefined;
    if (plan.diff) group.rows = rows = rowsByKey(res, plan.diff);
    // The whole result on the route's own event: one packet, encoded once, to every socket that needs it.
    const together: string[] | undefined = plan.diff || group.route.emit.renamed ? undefined : [];
    for (const sub of group.subscribers.values()) {
      if (sub.sent === hash) continue;
      const hadPrevious = sub.sent === previous;
      sub.sent = hash;
      sent++;
      if (together) {
        together.push(sub.socket.id);
        continue;
      }
      let envelope: unknown;
      if (plan.diff) {
        const base = sub.base ?? (hadPrevious ? before : undefined);
        sub.base = undefined;
        envelope = pushEnvelope(diffOf(base, rows!), group.params);
      } else {
        envelope = pushEnvelope(res, group.params);
      }
      group.route.emit.send(this.callFor(group, sub.user, sub), res, envelope);
    }
    // Local: these sockets are on this node (each node pushes to its own).
    if (together?.length) this.io.local.to(together).emit(group.route.dataEvent, pushEnvelope(res, group.params));
    if (sent) {
      this.stats.pushes += sent;
      this.onPush?.(group.route.event, group.params, sent);
    }
  }

  /** A call as the route's closures expect one; a subscriber's socket when pushing to it. */
  private callFor(group: Group, auth: AuthUser | null, sub?: Subscriber): Call {
    const any = sub ?? group.subscribers.values().next().value;
    return {
      event: group.route.event,
      params: group.params,
      auth,
      socket: any?.socket as Socket,
      state: any?.state as CallState,
      io: this.io,
      log: this.log,
      route: group.route,
      view: undefined,
      id: nextMessageId(),
      started: 0,
    };
  }

  private track(socket: Socket, group: Group): void {
    let set = this.bySocket.get(socket.id);
    if (!set) {
      this.bySocket.set(socket.id, (set = new Set()));
      socket.once('disconnect', () => {
        for (const g of this.bySocket.get(socket.id) ?? []) {
          const sub = g.subscribers.get(socket.id);
          if (sub) this.remove(g, sub);
        }
        this.bySocket.delete(socket.id);
      });
    }
    set.add(group);
  }

  /** Ends one subscription the client did not stop, and tells it on `<event>_error`. */
  private end(group: Group, sub: Subscriber, reason: EndReason): void {
    if (group.subscribers.get(sub.socket.id) !== sub) return;
    this.remove(group, sub);
    sub.socket.emit(group.route.errorEvent, errorEnvelope('LIVE_ENDED', END_TEXT[reason], { reason, event: group.route.event, params: group.params }));
  }

  private endGroup(group: Group, reason: EndReason): void {
    for (const sub of [...group.subscribers.values()]) this.end(group, sub, reason);
  }

  private remove(group: Group, sub: Subscriber): void {
    group.subscribers.delete(sub.socket.id);
    sub.release?.();
    this.stats.subscriptions--;
    const set = this.bySocket.get(sub.socket.id);
    set?.delete(group);
    if (group.subscribers.size) return;
    const byKey = this.groups.get(group.route.event);
    if (byKey?.get(group.key) === group) byKey.delete(group.key);
    this.stats.groups--;
    this.dirty.delete(group);
    this.guardDirty.delete(group);
    if (byKey && byKey.size === 0) {
      this.groups.delete(group.route.event);
      this.stopPolling(group.route.event);
    }
  }

  private startPolling(route: Route): void {
    const ms = route.live?.pollMs;
    if (!ms || this.polls.has(route.event)) return;
    const timer = setInterval(() => {
      for (const g of this.groups.get(route.event)?.values() ?? []) this.mark(g);
    }, ms);
    timer.unref();
    this.polls.set(route.event, timer);
  }

  private stopPolling(event: string): void {
    clearInterval(this.polls.get(event));
    this.polls.delete(event);
  }
}

/** A push: the reply's envelope, and the params of the subscription it belongs to (a socket may hold several of one route). */
function pushEnvelope(res: unknown, params: Record<string, unknown>): unknown {
  return { ...dataEnvelope(res), params };
}

function reads(r: LiveReads, table: string): boolean {
  return table === ANY_TABLE || r.tables.includes(table);
}

/**
 * Whether a write can change a read keyed by `values`: yes, unless every row
 * it wrote has, for some key filter on its table, a known column value that
 * differs from the read's.
 */
function concerns(w: Write, r: LiveReads, values: readonly string[]): boolean {
  if (!reads(r, w.table)) return false;
  if (!w.rows || w.table === ANY_TABLE) return true;
  return w.rows.some((row) => r.keys.every((k, i) => k.table !== w.table || row[k.column] === undefined || row[k.column]!.includes(values[i]!)));
}

/** One key per params set (and user): JSON with sorted object keys, so `{a,b}` and `{b,a}` share a group. */
function groupKey(params: Record<string, unknown>, user: AuthUser | null): string {
  return `${user ? String(user.id) : ''}\u0000${stable(params)}`;
}

function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
    .join(',')}}`;
}

function digest(json: string): string {
  return createHash('sha1').update(json).digest('base64');
}

/** diff: a result's rows by their key column (as text), with the key as it was and the row as JSON. */
type Rows = Map<string, { key: unknown; row: unknown; json: string }>;

function rowsByKey(res: unknown, column: string): Rows {
  const map: Rows = new Map();
  if (Array.isArray(res)) {
    for (const row of res as Array<Record<string, unknown> | null>) {
      const key = row?.[column];
      map.set(String(key), { key, row, json: JSON.stringify(row) });
    }
  }
  return map;
}

/** `{ diff: { changed, removed } }` from the rows a subscriber has to the new ones; every row, with `reset`, when its rows are not known. */
function diffOf(base: Rows | undefined, next: Rows): unknown {
  if (!base) return { diff: { changed: [...next.values()].map((r) => r.row), removed: [], reset: true } };
  const changed: unknown[] = [];
  for (const [k, r] of next) if (base.get(k)?.json !== r.json) changed.push(r.row);
  const removed: unknown[] = [];
  for (const [k, r] of base) if (!next.has(k)) removed.push(r.key);
  return { diff: { changed, removed } };
}

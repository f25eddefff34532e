import { clock, h } from './dom.js';
import { isEnvelope, type LiveStats, type PlaygroundInfo, type PlaygroundState, type RouteSummary } from './types.js';

/** The built-in event that stops a subscription (`{ type: 'unsubscribe', event, params }`). */
export const LIVE_EVENT = 'live';
/** How many endings the section remembers. */
const MAX_ENDED = 3;

type Send = (event: string, payload: unknown, withAck: boolean) => Promise<unknown>;
type Params = Record<string, unknown>;

/** A subscription this page holds: made by a call of a live route that answered ok. */
interface Subscription {
  event: string;
  params: Params;
  pushes: number;
  lastPush?: number;
  leaving?: boolean;
}

/** How a subscription ended without this page asking (LIVE_ENDED, a disconnect). */
interface Ending {
  event: string;
  params: Params;
  reason: string;
  text: string;
  at: number;
}

/** What the timeline shows of an event the page received, when it belongs to a live subscription. */
export interface LiveMark {
  kind: 'push';
  tag: string;
}

/** JSON with sorted object keys: `{a,b}` and `{b,a}` are one subscription, as on the server. */
function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Params;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
    .join(',')}}`;
}

const keyOf = (event: string, params: Params) => `${event}\u0000${stable(params)}`;
const isParams = (v: unknown): v is Params => typeof v === 'object' && v !== null && !Array.isArray(v);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Live queries in the playground, under the routes: the subscriptions this page holds (each
 * push it received, an unsubscribe button, why one ended), and the server's (every
 * subscription and the counts of `/_sockey/state.json`, fetched again on each `live` notice).
 */
export class LiveView {
  private routes: RouteSummary[] = [];
  private socketNames = { data: '_data', error: '_error' };
  private readonly mine = new Map<string, Subscription>();
  private ended: Ending[] = [];
  /** Calls of live routes sent without an ack, by event: their reply comes on `<event>_data` (or `_error`). */
  private readonly pending = new Map<string, Params[]>();
  private server: PlaygroundState['live'];
  private fetching = false;
  private fetchAgain = false;

  constructor(
    private readonly section: HTMLElement,
    private readonly count: HTMLElement,
    private readonly mineList: HTMLElement,
    private readonly endedList: HTMLElement,
    private readonly stats: HTMLElement,
    private readonly serverList: HTMLElement,
    private readonly send: Send,
  ) {}

  /** The route table (after the load and every reload): which events are live. */
  configure(info: PlaygroundInfo): void {
    const hadLive = this.routes.some((r) => r.live);
    this.routes = info.routes;
    this.socketNames = info.socket;
    if (this.hasLiveRoutes || hadLive) this.refresh();
    this.render();
  }

  private get hasLiveRoutes(): boolean {
    return this.routes.some((r) => r.live);
  }

  private isLive(event: string): boolean {
    return this.routes.some((r) => r.event === event && r.live);
  }

  /** The page sent `payload` on `event`: without an ack, a live route's reply will come as an event. */
  sent(event: string, payload: unknown, withAck: boolean): void {
    if (withAck || !this.isLive(event) || !isParams(payload)) return;
    const list = this.pending.get(event) ?? [];
    list.push(payload);
    this.pending.set(event, list);
  }

  /** An ack came back: a live route's ok answer subscribed this page; an unsubscribe that answered ended one. */
  acked(event: string, payload: unknown, envelope: unknown): void {
    if (!isEnvelope(envelope) || !envelope.ok) return;
    if (this.isLive(event) && isParams(payload)) this.subscribed(event, payload);
    else if (event === LIVE_EVENT && isParams(payload) && payload.type === 'unsubscribe' && typeof payload.event === 'string') {
      const res = envelope.res as { unsubscribed?: unknown } | null;
      // 0: the server held no such subscription (any more): the page does not either.
      if (res?.unsubscribed === 1 || res?.unsubscribed === 0) {
        const sub = this.find(payload.event, isParams(payload.params) ? payload.params : {});
        if (sub) this.mine.delete(keyOf(sub.event, sub.params));
        this.render();
        this.refresh();
      }
    }
  }

  /**
   * An event the page received. A live route's `<event>_data` is the reply of a call sent
   * without an ack, or a push of a subscription (marked so in the timeline); LIVE_ENDED on
   * `<event>_error` ends one.
   */
  received(event: string, body: unknown): LiveMark | undefined {
    const { data, error } = this.socketNames;
    if (event.endsWith(data)) {
      const route = event.slice(0, -data.length);
      const waiting = this.pending.get(route);
      if (waiting?.length) {
        const params = waiting.shift()!;
        if (isEnvelope(body) && body.ok) this.subscribed(route, params);
        return undefined;
      }
      const subs = [...this.mine.values()].filter((s) => s.event === route);
      if (!subs.length) return undefined;
      const now = Date.now();
      // A push names no params: with one subscription to the route it is that one's.
      if (subs.length === 1) {
        subs[0]!.pushes++;
        subs[0]!.lastPush = now;
      }
      this.render();
      // With several, it cannot be told whose it is: a push carries the result, not the params.
      return { kind: 'push', tag: subs.length === 1 ? `push · ${stable(subs[0]!.params)}` : `push · one of ${subs.length} subscriptions` };
    }
    if (event.endsWith(error)) {
      const route = event.slice(0, -error.length);
      if (!isEnvelope(body) || body.ok) return undefined;
      if (body.code !== 'LIVE_ENDED') {
        this.pending.get(route)?.shift();
        return undefined;
      }
      const d = (isParams(body.details) ? body.details : {}) as { reason?: unknown; event?: unknown; params?: unknown };
      const ended = typeof d.event === 'string' ? d.event : route;
      const sub = this.find(ended, isParams(d.params) ? d.params : {});
      if (sub) this.mine.delete(keyOf(sub.event, sub.params));
      this.remember({ event: ended, params: sub?.params ?? (isParams(d.params) ? d.params : {}), reason: typeof d.reason === 'string' ? d.reason : 'ended', text: body.err, at: Date.now() });
      this.render();
      this.refresh();
    }
    return undefined;
  }

  /** The socket disconnected: the server ended its subscriptions (they do not survive a reconnection). */
  disconnected(): void {
    const now = Date.now();
    for (const s of this.mine.values()) this.remember({ event: s.event, params: s.params, reason: 'disconnected', text: 'Subscriptions end with the connection: call the route again.', at: now });
    this.mine.clear();
    this.pending.clear();
    this.render();
  }

  /** Fetches `/_sockey/state.json` again (one request at a time; a notice during one asks once more after it). */
  refresh(): void {
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    fetch('/_sockey/state.json', { cache: 'no-store' })
      .then(async (res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.server = ((await res.json()) as PlaygroundState).live;
        this.render();
      })
      .catch(() => undefined)
      .finally(() => {
        this.fetching = false;
        if (this.fetchAgain) {
          this.fetchAgain = false;
          this.refresh();
        }
      });
  }

  private subscribed(event: string, params: Params): void {
    const key = keyOf(event, params);
    // The same params again: still one subscription (the server's answer replaced its last result).
    if (!this.mine.has(key)) this.mine.set(key, { event, params, pushes: 0 });
    this.render();
    this.refresh();
  }

  /**
   * This page's subscription to `event` that `params` (as the server has them: defaults filled
   * in) names: the same params, or else the only one whose params they extend.
   */
  private find(event: string, params: Params): Subscription | undefined {
    const exact = this.mine.get(keyOf(event, params));
    if (exact) return exact;
    const within = [...this.mine.values()].filter((s) => s.event === event && Object.entries(s.params).every(([k, v]) => stable(params[k]) === stable(v)));
    return within.length === 1 ? within[0] : undefined;
  }

  private remember(e: Ending): void {
    this.ended = [e, ...this.ended].slice(0, MAX_ENDED);
  }

  private async unsubscribe(sub: Subscription): Promise<void> {
    sub.leaving = true;
    this.render();
    await this.send(LIVE_EVENT, { type: 'unsubscribe', event: sub.event, params: sub.params }, true);
    // Still there: the server refused (the timeline shows why), so it can be tried again.
    sub.leaving = false;
    this.render();
  }

  private render(): void {
    const server = this.server;
    this.section.hidden = !this.hasLiveRoutes && this.mine.size === 0 && this.ended.length === 0 && !server?.subscriptions.length;
    this.count.textContent = String(this.mine.size);
    this.mineList.replaceChildren(...[...this.mine.values()].map((s) => this.item(s)));
    if (!this.mine.size) this.mineList.append(h('li', { class: 'none' }, 'Call a live route to subscribe this page.'));
    this.endedList.replaceChildren(
      ...this.ended.map((e) =>
        h(
          'li',
          { class: 'live-end', 'data-testid': 'live-ended', 'data-event': e.event, 'data-reason': e.reason, title: e.text },
          h('span', { class: 'live-event' }, e.event),
          ' ',
          h('code', { class: 'live-params' }, stable(e.params)),
          ' ended: ',
          h('strong', { 'data-testid': 'live-ended-reason' }, e.reason),
          h('time', {}, ` ${clock(e.at)}`),
        ),
      ),
    );
    this.renderServer(server);
  }

  private item(s: Subscription): HTMLElement {
    return h(
      'li',
      { class: 'live-sub', 'data-testid': 'live-sub', 'data-event': s.event, 'data-params': stable(s.params) },
      h('span', { class: 'live-head' }, h('span', { class: 'live-event' }, s.event), h('code', { class: 'live-params', 'data-testid': 'live-sub-params' }, stable(s.params))),
      h(
        'span',
        { class: 'live-pushes', 'data-testid': 'live-sub-pushes' },
        s.pushes ? `${plural(s.pushes, 'push', 'pushes')} · last ${clock(s.lastPush!)}` : 'no push yet',
        ' ',
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small-button',
            'data-testid': 'live-unsubscribe',
            disabled: s.leaving === true,
            title: `sends { type: 'unsubscribe', event, params } on ${LIVE_EVENT}`,
            onclick: () => void this.unsubscribe(s),
          },
          'Unsubscribe',
        ),
      ),
    );
  }

  private renderServer(server: PlaygroundState['live']): void {
    const stats: LiveStats = server?.stats ?? { subscriptions: 0, groups: 0, reruns: 0, pushes: 0 };
    const stat = (k: keyof LiveStats, one: string, many?: string) => h('span', { 'data-testid': `live-stat-${k}` }, plural(stats[k], one, many));
    this.stats.replaceChildren(stat('subscriptions', 'subscription'), ' · ', stat('groups', 'group'), ' · ', stat('reruns', 're-run'), ' · ', stat('pushes', 'push', 'pushes'));
    const groups = server?.subscriptions ?? [];
    this.serverList.replaceChildren(
      ...groups.map((g) => {
        const mine = this.find(g.event, g.params) !== undefined;
        return h(
          'li',
          { class: `live-group${mine ? ' mine' : ''}`, 'data-testid': 'live-group', 'data-event': g.event, 'data-params': stable(g.params), title: mine ? 'this page is one of them' : undefined },
          h('span', { class: 'live-event' }, g.event),
          ' ',
          h('code', { class: 'live-params' }, stable(g.params)),
          ' ',
          h('span', { class: 'live-subscribers', 'data-testid': 'live-group-subscribers' }, plural(g.subscribers, 'socket')),
        );
      }),
    );
    if (!groups.length) this.serverList.append(h('li', { class: 'none' }, server ? 'No subscriptions on this server.' : 'Not known yet.'));
  }
}

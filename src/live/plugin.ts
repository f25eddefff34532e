import { peerChannel } from '../cluster/peers.js';
import type { RouteTable } from '../compile/table.js';
import { SockeyError } from '../core/errors.js';
import type { Call } from '../core/route.js';
import { PLAYGROUND_NAMESPACE, type LiveNotice, type PlaygroundState } from '../core/wire.js';
import { sqlTablesFor } from '../db/sql-tables.js';
import { TrackingDriver, type Write } from '../db/tracking.js';
import type { RawRoute } from '../manifest/types.js';
import type { ServerContext, ServerPlugin } from '../pipeline/plugin.js';
import { LiveQueries } from './queries.js';

/** The built-in event that stops a subscription (SPEC §7). */
export const LIVE_EVENT = 'live';

/** The playground hears of the live queries at most once per this long (the first change of a quiet spell at once, the last of a burst at the end). */
export const LIVE_NOTICE_MS = 250;

const hasLive = (table: RouteTable) => [...table.routes.values()].some((r) => r.live);

/**
 * Live queries: the `live` event (unsubscribe) when the manifest has a live
 * route, the subscriptions, and the driver reporting writes to them. An app
 * without live routes pays nothing: the driver passes calls through.
 */
export function livePlugin(): ServerPlugin {
  let queries: LiveQueries | undefined;
  let server: ServerContext | undefined;
  let noticeTimer: NodeJS.Timeout | undefined;
  let noticeDue = false;
  const watched = new WeakSet<object>();

  /** Tells open playgrounds of this process that its live queries moved (`live` on /_sockey; they fetch state.json again), throttled. */
  const notice = () => {
    if (!queries || !server?.table.settings.server.playground) return;
    if (noticeTimer) {
      noticeDue = true;
      return;
    }
    const tell = () => {
      const body: LiveNotice = { stats: { ...queries!.stats } };
      // This process's state (what its state.json answers), so only its own playground sockets.
      server?.io.of(PLAYGROUND_NAMESPACE).local.emit('live', body);
    };
    tell();
    const wait = () => {
      noticeTimer = setTimeout(() => {
        noticeTimer = undefined;
        if (!noticeDue || !queries) return;
        noticeDue = false;
        tell();
        wait();
      }, LIVE_NOTICE_MS);
      noticeTimer.unref();
    };
    wait();
  };

  const track = (s: ServerContext) => {
    if (!(s.db instanceof TrackingDriver)) return;
    const on = hasLive(s.table);
    s.db.track(on ? sqlTablesFor(s.db.dialect) : undefined, on ? (writes) => queries?.written(writes) : undefined);
  };

  return {
    builtins(settings, _driver, routes) {
      if (!Object.values(routes ?? {}).some((r) => r?.live !== undefined && r.live !== false)) return undefined;
      return { at: ['routes'], routes: { [LIVE_EVENT]: unsubscribeRoute(() => queries, settings.socket.data, notice) } };
    },
    onStart(s) {
      server = s;
      queries = new LiveQueries(s.io, s.log, s.table, s.cluster || s.peers ? peerChannel<Write[]>(s.io, 'sockey:live') : undefined);
      queries.onPush = notice;
      track(s);
    },
    onSwap(s) {
      server = s;
      track(s);
      queries?.swap(s.table);
      notice();
    },
    onClose() {
      clearTimeout(noticeTimer);
      noticeTimer = undefined;
      queries?.close();
      if (server?.db instanceof TrackingDriver) server.db.track(undefined, undefined);
    },
    inspect: (): PlaygroundState => (queries ? { live: { stats: { ...queries.stats }, subscriptions: queries.list() } } : {}),
    gauges: {
      live_subscriptions: { help: 'Live subscriptions on this process (a socket subscribed to a live route with some params).', value: () => queries?.stats.subscriptions ?? 0 },
      live_groups: { help: 'Live queries on this process (subscriptions of one route with the same params share one).', value: () => queries?.stats.groups ?? 0 },
    },
    live: {
      begin: (call) => queries?.begin(call),
      answered: (call, res) => {
        if (!queries) return;
        const before = queries.stats.subscriptions;
        queries.subscribe(call, res);
        if (queries.stats.subscriptions === before) return;
        notice();
        // Its subscriptions end with it (LiveQueries' own listener runs first): the playground hears of that too.
        if (!watched.has(call.socket)) {
          watched.add(call.socket);
          call.socket.once('disconnect', notice);
        }
      },
    },
  };
}

interface UnsubscribePayload {
  type: 'unsubscribe';
  event: string;
  params?: Record<string, unknown>;
}

/** `{ type: "unsubscribe", event, params }` on `live`: stops this socket's subscription; answers `{ unsubscribed: 0 | 1 }`. */
function unsubscribeRoute(queries: () => LiveQueries | undefined, data: string, changed: () => void): RawRoute {
  const handler = (_ctx: unknown, call: Call) => {
    const live = queries();
    const p = call.params as unknown as UnsubscribePayload;
    const route = live?.route(p.event);
    if (!live || !route?.live) throw new SockeyError('BAD_REQUEST', `"${p.event}" is not a live route.`);
    // The params as the route validated them when subscribing (defaults filled in).
    const params = route.validate(p.params ?? {});
    const unsubscribed = live.unsubscribe(call.socket, p.event, params, call.auth);
    if (unsubscribed) changed();
    return { unsubscribed };
  };
  return {
    description: `Built-in live queries: { type: unsubscribe, event, params } stops one subscription. Answers on ${LIVE_EVENT}${data}.`,
    auth: 'optional',
    params: {
      type: 'object',
      required: ['type', 'event'],
      additionalProperties: false,
      properties: { type: { const: 'unsubscribe' }, event: { type: 'string', minLength: 1, maxLength: 200 }, params: { type: 'object' } },
    },
    hook: { builtin: 'live', fn: handler as never },
  };
}

import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { RouteTable } from '../compile/table.js';
import type { Call, LiveHooks, Route } from '../core/route.js';
import type { Clock } from '../core/clock.js';
import type { Identify, Identity } from '../pipeline/plugin.js';
import { clientAddress } from './client-address.js';
import { dataEnvelope, errorEnvelope, toErrorEnvelope } from '../core/envelope.js';
import { SockeyError } from '../core/errors.js';
import { joinRoom, leaveRoom } from '../core/rooms.js';
import { joinPresence } from '../core/presence.js';
import { formatMessageId, nextMessageId } from '../core/message-id.js';
import { logRepeated } from '../core/repeats.js';
import { startRouteTimers } from './route-timers.js';
import { SocketState } from './socket-state.js';

type Ack = (envelope: unknown) => void;

/** What the dispatcher reads on every message; `table` is swapped whole on reload. */
export interface DispatchTarget {
  table: RouteTable;
  io: Server;
  log: Logger;
  identify: Identify;
  /** Rate-limit windows count on it. */
  clock: Clock;
  /** Runs once per connection (handshake authentication). */
  onConnection?: (socket: Socket, state: SocketState) => void | Promise<void>;
  /** Told of calls of live routes (the live queries plugin). */
  live?: LiveHooks;
  /** Set when the server stops: messages that arrive now are answered UNAVAILABLE (those under way finish). */
  draining?: boolean;
  /** With `server.metrics`: counts messages of events no route has (the routes' own meters count theirs). */
  metrics?: { unknownEvent(): void };
  /** Debug logging is on: one line per message (its id, event, code and time). */
  trace: boolean;
}

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

export function attachDispatcher(target: DispatchTarget, states: Map<string, SocketState>): void {
  target.io.on('connection', (socket) => {
    // Resolved once: X-Forwarded-For belongs to the handshake request, and a reload must not move a socket.
    const state = new SocketState(clientAddress(socket.conn.remoteAddress, socket.handshake.headers['x-forwarded-for'], target.table.settings.server.trustProxy));
    states.set(socket.id, state);
    socket.on('disconnect', () => {
      state.dispose();
      states.delete(socket.id);
    });
    /* eslint-disable prefer-rest-params -- `arguments`, not a rest array: no allocation per message */
    socket.onAny(function onMessage(event: string) {
      // The ack, when given, comes last.
      const n = arguments.length;
      const last: unknown = n > 1 ? arguments[n - 1] : undefined;
      const ack = typeof last === 'function' ? (last as Ack) : undefined;
      const payload: unknown = n > 1 && arguments[1] !== ack ? arguments[1] : undefined;
      handle(target, socket, state, event, payload, ack);
    });
    /* eslint-enable prefer-rest-params */
    if (target.onConnection) {
      Promise.resolve(target.onConnection(socket, state)).catch((e) => {
        const err = (e as Error)?.message;
        logRepeated(target.log, 'warn', { err }, 'connection setup failed', [err]);
      });
    }
  });
}

/**
 * One message, in steps that run synchronously until one of them (identify,
 * the action, a join) answers a promise; only then does the rest wait. A
 * route with a synchronous action (a reply, SQLite) never touches the
 * microtask queue. Any failure becomes the caller's error envelope.
 */
function handle(target: DispatchTarget, socket: Socket, state: SocketState, event: string, payload: unknown, ack: Ack | undefined): void {
  // One table per message: a reload mid-message never mixes versions.
  const table = target.table;
  const route = table.routes.get(event);
  if (target.draining) {
    if (ack) ack(errorEnvelope('UNAVAILABLE', 'The server is shutting down: try again (another node will answer).'));
    return;
  }
  if (!route) {
    // Counted under one label value: a client's event names never become label values.
    target.metrics?.unknownEvent();
    if (ack) ack(errorEnvelope('UNKNOWN_EVENT', `Unknown event "${event}".`));
    return;
  }
  // Timed only while something reads the time (metrics, debug lines): else a message costs a counter increment more, no clock.
  const started = route.metrics.meter !== undefined || target.trace ? performance.now() : 0;
  const call: Call = { event, params: EMPTY, auth: null, socket, state, io: target.io, log: target.log, route, view: undefined, id: nextMessageId(), started };
  table.load.inflight++;
  let pending: void | Promise<void> = undefined;
  try {
    pending = identified(target, call, route, payload, ack);
  } catch (e) {
    failSafely(target, call, route, e, ack);
  }
  if (!(pending instanceof Promise)) {
    table.load.inflight--;
    return;
  }
  pending.then(
    () => {
      table.load.inflight--;
    },
    (e: unknown) => {
      table.load.inflight--;
      failSafely(target, call, route, e, ack);
    },
  );
}

/** No failure of one message, not even of its answer, may reach socket.io's event loop. */
function failSafely(target: DispatchTarget, call: Call, route: Route, e: unknown, ack: Ack | undefined): void {
  try {
    fail(target, call, route, e, ack);
  } catch (err) {
    const message = (err as Error)?.message;
    logRepeated(call.log, 'error', { event: call.event, err: message, msgId: formatMessageId(call.id) }, 'could not answer a failed message', [call.event, message]);
  }
}

function identified(target: DispatchTarget, call: Call, route: Route, payload: unknown, ack: Ack | undefined): void | Promise<void> {
  if (route.auth === 'none') return checked(target, call, route, payload, ack);
  // Synchronous for a signed-in socket whose token is fresh.
  const who = target.identify(call, payload);
  if (who instanceof Promise) return who.then((w) => withUser(target, call, route, w, ack));
  return withUser(target, call, route, who, ack);
}

function withUser(target: DispatchTarget, call: Call, route: Route, who: Identity, ack: Ack | undefined): void | Promise<void> {
  call.auth = who.user;
  if (route.auth === 'required' && !call.auth) throw new SockeyError('UNAUTHORIZED', 'Not signed in.');
  return checked(target, call, route, who.payload, ack);
}

function checked(target: DispatchTarget, call: Call, route: Route, payload: unknown, ack: Ack | undefined): void | Promise<void> {
  if (route.rateLimit) {
    const wait = route.rateLimit.take(call, target.clock.now());
    // A promise only with cluster: (a signed-in caller's window is counted in Redis).
    if (wait instanceof Promise) return limitedLater(target, call, route, payload, ack, wait);
    if (wait > 0) throw new SockeyError('RATE_LIMITED', 'Too many requests, slow down.', { retryAfterMs: wait });
  }
  return validated(target, call, route, payload, ack);
}

/** Its own function, so that the closure (and its context) exists only for a limit that answers a promise. */
function limitedLater(target: DispatchTarget, call: Call, route: Route, payload: unknown, ack: Ack | undefined, wait: Promise<number>): Promise<void> {
  return wait.then((w) => {
    if (w > 0) throw new SockeyError('RATE_LIMITED', 'Too many requests, slow down.', { retryAfterMs: w });
    return validated(target, call, route, payload, ack);
  });
}

function validated(target: DispatchTarget, call: Call, route: Route, payload: unknown, ack: Ack | undefined): void | Promise<void> {
  call.params = route.validate(payload);
  if (route.guard) {
    const pass = route.guard(call);
    if (pass instanceof Promise) return pass.then((ok) => allowed(target, call, route, ok, ack));
    return allowed(target, call, route, pass, ack);
  }
  return run(target, call, route, ack);
}

function allowed(target: DispatchTarget, call: Call, route: Route, pass: boolean, ack: Ack | undefined): void | Promise<void> {
  // No detail about why: that would tell a caller about the data.
  if (!pass) throw new SockeyError('FORBIDDEN');
  return run(target, call, route, ack);
}

function run(target: DispatchTarget, call: Call, route: Route, ack: Ack | undefined): void | Promise<void> {
  for (const check of route.roomChecks) check(call);
  if (route.live) target.live?.begin(call);
  const res = route.action(call);
  if (res instanceof Promise) return res.then((r: unknown) => acted(target, call, route, r, ack));
  return acted(target, call, route, res, ack);
}

function acted(target: DispatchTarget, call: Call, route: Route, res: unknown, ack: Ack | undefined): void | Promise<void> {
  if (route.join.length || route.leave.length) {
    const moved = joinAndLeave(call, route, res);
    if (moved) return moved.then(() => answered(target, call, route, res, ack));
  }
  answered(target, call, route, res, ack);
}

/** The in-memory adapter joins synchronously; a cluster adapter may answer promises, which are then awaited in order. */
function joinAndLeave(call: Call, route: Route, res: unknown, from = 0): Promise<void> | undefined {
  const { join, leave, joinPresence: presence } = route;
  for (let i = from; i < join.length + leave.length; i++) {
    const r = i < join.length ? (presence?.[i] ? joinPresence : joinRoom)(call, join[i]!(call, res)) : leaveRoom(call, leave[i - join.length]!(call, res));
    if (r instanceof Promise) return r.then(() => joinAndLeave(call, route, res, i + 1));
  }
  return undefined;
}

function answered(target: DispatchTarget, call: Call, route: Route, res: unknown, ack: Ack | undefined): void {
  reply(call, route, res, ack);
  if (route.live) target.live?.answered(call, res);
  // A reload during the action may have removed or changed the route: its timers must not start.
  if (route.timers.length && target.table.routes.get(call.event) === route) startRouteTimers(call, route);
  if (call.started !== 0) ended(target, call, undefined);
}

/** A timed message ended (`code` undefined: it succeeded): its route's meter, and the debug line. */
function ended(target: DispatchTarget, call: Call, code: string | undefined): void {
  const ms = performance.now() - call.started;
  call.route.metrics.meter?.done(code, ms);
  if (target.trace) call.log.debug({ msgId: formatMessageId(call.id), event: call.event, code: code ?? 'ok', ms: Math.round(ms * 1000) / 1000 }, 'message');
}

function reply(call: Call, route: Route, res: unknown, ack: Ack | undefined): void {
  const envelope = dataEnvelope(res);
  // To self with an ack, the ack alone carries the reply (one packet, not two).
  if (ack && route.emit.to === 'self') {
    ack(envelope);
    return;
  }
  route.emit.send(call, res, envelope);
  if (ack) ack(envelope);
}

function fail(target: DispatchTarget, call: Call, route: Route, e: unknown, ack: Ack | undefined): void {
  const envelope = toErrorEnvelope(e);
  if (call.started !== 0) ended(target, call, envelope.code);
  if (envelope.code === 'INTERNAL' || envelope.code === 'DB_ERROR') {
    const cause = (e as { cause?: Error })?.cause ?? e;
    const err = (cause as Error)?.message ?? String(cause);
    // During an outage every message fails alike: the first line in full, then one summary per interval.
    logRepeated(call.log, 'error', { event: route.event, code: envelope.code, err, msgId: formatMessageId(call.id) }, 'route failed', [route.event, envelope.code, err]);
  }
  if (ack) ack(envelope);
  else call.socket.emit(route.errorEvent, envelope);
}

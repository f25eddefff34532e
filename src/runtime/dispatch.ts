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
      Promise.resolve(target.onConnection(socket, state)).catch((e) => target.log.warn({ err: (e as Error).message }, 'connection setup failed'));
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
    if (ack) ack(errorEnvelope('UNKNOWN_EVENT', `Unknown event "${event}".`));
    return;
  }
  const call: Call = { event, params: EMPTY, auth: null, socket, state, io: target.io, log: target.log, route, view: undefined };
  table.load.inflight++;
  let pending: void | Promise<void> = undefined;
  try {
    pending = identified(target, call, route, payload, ack);
  } catch (e) {
    failSafely(call, route, e, ack);
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
      failSafely(call, route, e, ack);
    },
  );
}

/** No failure of one message, not even of its answer, may reach socket.io's event loop. */
function failSafely(call: Call, route: Route, e: unknown, ack: Ack | undefined): void {
  try {
    fail(call, route, e, ack);
  } catch (err) {
    call.log.error({ event: call.event, err: (err as Error)?.message }, 'could not answer a failed message');
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

function fail(call: Call, route: Route, e: unknown, ack: Ack | undefined): void {
  const envelope = toErrorEnvelope(e);
  if (envelope.code === 'INTERNAL' || envelope.code === 'DB_ERROR') {
    const cause = (e as { cause?: Error })?.cause ?? e;
    call.log.error({ event: route.event, code: envelope.code, err: (cause as Error)?.message ?? String(cause) }, 'route failed');
  }
  if (ack) ack(envelope);
  else call.socket.emit(route.errorEvent, envelope);
}

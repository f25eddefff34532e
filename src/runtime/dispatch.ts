import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { RouteTable } from '../compile/table.js';
import type { Call, Route } from '../core/route.js';
import type { Clock } from '../core/clock.js';
import type { Identify } from '../pipeline/plugin.js';
import { clientAddress } from './client-address.js';
import { dataEnvelope, errorEnvelope, toErrorEnvelope } from '../core/envelope.js';
import { SockeyError } from '../core/errors.js';
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
    socket.onAny((event: string, ...args: unknown[]) => {
      void handle(target, socket, state, event, args);
    });
    if (target.onConnection) {
      Promise.resolve(target.onConnection(socket, state)).catch((e) => target.log.warn({ err: (e as Error).message }, 'connection setup failed'));
    }
  });
}

async function handle(target: DispatchTarget, socket: Socket, state: SocketState, event: string, args: unknown[]): Promise<void> {
  // One table per message: a reload mid-message never mixes versions.
  const table = target.table;
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as Ack) : undefined;
  const route = table.routes.get(event);
  if (!route) {
    if (ack) ack(errorEnvelope('UNKNOWN_EVENT', `Unknown event "${event}".`));
    return;
  }
  let payload = args[0] === ack ? undefined : args[0];
  const call: Call = { event, params: EMPTY, auth: null, socket, state, io: target.io, log: target.log, route, view: undefined };
  table.load.inflight++;
  try {
    if (route.auth !== 'none') {
      // Synchronous for a signed-in socket whose token is fresh: no await on the common path.
      let who = target.identify(call, payload);
      if (who instanceof Promise) who = await who;
      call.auth = who.user;
      payload = who.payload;
      if (route.auth === 'required' && !call.auth) throw new SockeyError('UNAUTHORIZED', 'Not signed in.');
    }
    if (route.rateLimit) {
      const wait = route.rateLimit.take(call, target.clock.now());
      if (wait > 0) throw new SockeyError('RATE_LIMITED', 'Too many requests, slow down.', { retryAfterMs: wait });
    }
    call.params = route.validate(payload);
    for (const check of route.roomChecks) check(call);
    let res = route.action(call);
    if (res instanceof Promise) res = await res;
    // The in-memory adapter joins synchronously; a cluster adapter may return a promise.
    for (const room of route.join) {
      const joined = socket.join(room(call, res));
      if (joined instanceof Promise) await joined;
    }
    for (const room of route.leave) {
      const left = socket.leave(room(call, res));
      if (left instanceof Promise) await left;
    }
    reply(call, route, res, ack);
    // A reload during the action may have removed or changed the route: its timers must not start.
    if (route.timers.length && target.table.routes.get(event) === route) startRouteTimers(call, route);
  } catch (e) {
    fail(call, route, e, ack);
  } finally {
    table.load.inflight--;
  }
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

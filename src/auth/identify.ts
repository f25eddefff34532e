import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import { RESERVED_ROOM_PREFIX } from '../core/rooms.js';
import { forgetPresence, restorePresence } from '../core/presence.js';
import type { Call, CallState } from '../core/route.js';
import type { Identity } from '../pipeline/plugin.js';
import type { Driver } from '../db/driver.js';
import type { Settings } from '../manifest/settings.js';
import { errorEnvelope } from '../core/envelope.js';
import { SockeyError } from '../core/errors.js';
import { ensureFresh, verifyToken, type Session, type SessionIndex } from './session.js';
import { storeFor } from './store.js';

/**
 * Who sends a message on an `auth: required | optional` route, in order: the
 * socket's own login/register or handshake, then the payload's `user: { name, key }`
 * (the original sockey protocol; stripped before params are validated).
 * A signed-in socket whose token is fresh is answered at once: no await, no copy of the payload.
 */
export function identify(call: Call, payload: unknown, db: Driver, settings: Settings, sessions: SessionIndex): Identity | Promise<Identity> {
  const { state } = call;
  const session = state.session as Session | undefined;
  if (session && state.user && !state.ready && !carriesKey(payload) && sessions.isFresh(session.issuedAt)) {
    return { user: state.user, payload };
  }
  return identifySlowly(call, payload, db, settings, sessions);
}

function carriesKey(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && 'user' in payload;
}

async function identifySlowly(call: Call, payload: unknown, db: Driver, settings: Settings, sessions: SessionIndex): Promise<Identity> {
  const { state } = call;
  if (state.ready) await state.ready;
  const store = storeFor(db);
  let rest = payload;
  let presented: { name?: unknown; key?: unknown } | undefined;
  if (payload && typeof payload === 'object' && !Array.isArray(payload) && 'user' in payload) {
    const { user, ...others } = payload as { user?: { name?: unknown; key?: unknown } };
    if (user && typeof user === 'object' && 'key' in user) {
      presented = user;
      rest = others;
    }
  }
  const session = state.session as Session | undefined;
  if (session && state.user) {
    const user = state.user;
    return (await fresh(call, session, store, settings, sessions)) ? { user, payload: rest } : { user: null, payload: rest };
  }
  if (presented) {
    const row = await verifyToken(store, presented.name, presented.key);
    if (!row) {
      if (call.route.auth === 'required') throw new SockeyError('UNAUTHORIZED', 'Invalid name or key.');
      return { user: null, payload: rest };
    }
    const s = sessions.sessionFor(row);
    if (!(await fresh(call, s, store, settings, sessions))) return { user: null, payload: rest };
    sessions.lend(s, call.socket, state);
    return { user: { id: s.userId, name: s.name }, payload: rest };
  }
  return { user: null, payload: rest };
}

/**
 * Renews or expires the session. An expired session fails a required route
 * with "Logged out."; an optional route runs as a guest, and the socket is
 * told on `auth_error`.
 */
async function fresh(call: Call, session: Session, store: ReturnType<typeof storeFor>, settings: Settings, sessions: SessionIndex): Promise<boolean> {
  try {
    await ensureFresh(session, call.socket, store, settings, sessions);
    return true;
  } catch (e) {
    if (call.route.auth === 'required' || !(e instanceof SockeyError)) throw e;
    tellAuthError(call.socket, settings, e.code, e.message);
    return false;
  }
}

/** Handshake `auth: { name, token }`: verified once when the socket connects. */
export function authenticateHandshake(socket: Socket, state: CallState, db: Driver, settings: Settings, sessions: SessionIndex): void {
  const creds = socket.handshake.auth as { name?: unknown; token?: unknown } | undefined;
  if (!creds || creds.token === undefined) return;
  state.ready = (async () => {
    const store = storeFor(db);
    const row = await verifyToken(store, creds.name, creds.token);
    if (!row) {
      tellAuthError(socket, settings, 'UNAUTHORIZED', 'Invalid name or token.');
      return;
    }
    const session = sessions.sessionFor(row);
    try {
      await ensureFresh(session, socket, store, settings, sessions);
    } catch (e) {
      if (e instanceof SockeyError) {
        tellAuthError(socket, settings, e.code, e.message);
        return;
      }
      throw e;
    }
    sessions.signIn(socket, state, session);
  })().finally(() => {
    state.ready = undefined;
  });
}

/**
 * A socket that socket.io recovered (connection-state recovery, maybe on
 * another node) has its rooms and `socket.data` back: its session is taken
 * up again from `data.keyId` if the key still exists (a logout meanwhile
 * deleted it: then the socket is signed out, its rooms joined as that user
 * left, and told on `auth_error`), and its presence rooms announced again.
 */
export function recoverSession(socket: Socket, state: CallState, db: Driver, settings: Settings, sessions: SessionIndex, io: Server, log: Logger): void {
  const data = socket.data as { keyId?: number | string; user?: unknown };
  const keyId = data.keyId;
  if (keyId === undefined || keyId === null) return;
  // What socket.io restored, but for the socket's own room and sockey's: sockey cannot tell the rooms joined as a guest apart, so all of them follow the session.
  for (const room of socket.rooms) if (room !== socket.id && !room.startsWith(RESERVED_ROOM_PREFIX)) state.signedInRooms.add(room);
  state.ready = (async () => {
    const row = await storeFor(db).findKeyById(keyId);
    if (!row) {
      forgetPresence(socket);
      for (const room of socket.rooms) if (room !== socket.id && (state.signedInRooms.has(room) || room.startsWith(RESERVED_ROOM_PREFIX))) void socket.leave(room);
      state.signedInRooms.clear();
      socket.data = { ...socket.data, user: undefined, keyId: undefined };
      tellAuthError(socket, settings, 'UNAUTHORIZED', 'Logged out.');
      return;
    }
    sessions.signIn(socket, state, sessions.sessionFor(row));
    restorePresence(io, log, socket);
  })().finally(() => {
    state.ready = undefined;
  });
}

/** Auth problems the socket did not ask about (a bad handshake token, an expiry on an optional route) go to `auth_error`. */
function tellAuthError(socket: Socket, settings: Settings, code: string, message: string): void {
  socket.emit(settings.auth.event + settings.socket.error, errorEnvelope(code, message));
}

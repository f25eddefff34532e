import type { Socket } from 'socket.io';
import type { AuthUser, Call } from '../compile/types.js';
import type { Driver } from '../db/driver.js';
import type { Settings } from '../manifest/settings.js';
import { SockeyError } from '../runtime/errors.js';
import type { SocketState } from '../runtime/socket-state.js';
import { ensureFresh, sessionOf, verifyToken, type Session, type SessionIndex } from './session.js';
import { storeFor } from './store.js';

/**
 * Who sends a message on an `auth: required | optional` route, in order: the
 * socket's own login/register or handshake, then the payload's `user: { name, key }`
 * (the original sockey protocol; stripped before params are validated).
 */
export async function identify(call: Call, payload: unknown, db: Driver, settings: Settings, sessions: SessionIndex): Promise<{ user: AuthUser | null; payload: unknown }> {
  const { state, socket } = call;
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
    await ensureFresh(session, socket, store, settings, () => sessions.signOut(socket, state));
    return { user: state.user, payload: rest };
  }
  if (presented) {
    const row = await verifyToken(store, presented.name, presented.key);
    if (!row) {
      if (call.route.auth === 'required') throw new SockeyError('UNAUTHORIZED', 'Invalid name or key.');
      return { user: null, payload: rest };
    }
    const s = sessionOf(row);
    await ensureFresh(s, socket, store, settings, () => undefined);
    return { user: { id: s.userId, name: s.name }, payload: rest };
  }
  return { user: null, payload: rest };
}

/** Handshake `auth: { name, token }`: verified once when the socket connects. */
export function authenticateHandshake(socket: Socket, state: SocketState, db: Driver, settings: Settings, sessions: SessionIndex): void {
  const creds = socket.handshake.auth as { name?: unknown; token?: unknown } | undefined;
  if (!creds || creds.token === undefined) return;
  state.ready = (async () => {
    const store = storeFor(db);
    const row = await verifyToken(store, creds.name, creds.token);
    if (!row) {
      socket.emit(settings.auth.event + settings.socket.error, { ok: false, err: 'Invalid name or token.', res: false, code: 'UNAUTHORIZED' });
      return;
    }
    const session = sessionOf(row);
    try {
      await ensureFresh(session, socket, store, settings, () => undefined);
    } catch (e) {
      if (e instanceof SockeyError) {
        socket.emit(settings.auth.event + settings.socket.error, { ok: false, err: e.message, res: false, code: e.code });
        return;
      }
      throw e;
    }
    sessions.signIn(socket, state, session);
  })().finally(() => {
    state.ready = undefined;
  });
}

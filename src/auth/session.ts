import type { Socket } from 'socket.io';
import type { Settings } from '../manifest/settings.js';
import { userRoom } from '../runtime/deliver.js';
import { dataEnvelope } from '../runtime/envelope.js';
import { SockeyError } from '../runtime/errors.js';
import type { SocketState } from '../runtime/socket-state.js';
import type { AuthStore, KeyRow } from './store.js';
import { hashToken, newToken, sameHash } from './tokens.js';

/** A signed-in socket's session: one user_keys row. The token itself is never kept. */
export interface Session {
  keyId: number | string;
  userId: number | string;
  name: string;
  persistent: boolean;
  issuedAt: number;
  /** Set while a renewal is under way, so concurrent messages renew once. */
  renewing?: Promise<void>;
}

/** Which sockets use which key, so a logout signs out every socket of that session. */
export class SessionIndex {
  private readonly byKey = new Map<string, Set<{ socket: Socket; state: SocketState }>>();

  signIn(socket: Socket, state: SocketState, session: Session): void {
    this.signOut(socket, state);
    state.user = { id: session.userId, name: session.name };
    state.session = session;
    void socket.join(userRoom(session.userId));
    const key = String(session.keyId);
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add({ socket, state });
    socket.once('disconnect', () => this.forget(key, state));
  }

  signOut(socket: Socket, state: SocketState): void {
    const session = state.session as Session | undefined;
    if (!session) return;
    state.user = null;
    state.session = undefined;
    void socket.leave(userRoom(session.userId));
    this.forget(String(session.keyId), state);
  }

  /** Signs out every socket using the key (after a logout revoked it). */
  revoke(keyId: number | string): void {
    const set = this.byKey.get(String(keyId));
    if (!set) return;
    for (const { socket, state } of [...set]) this.signOut(socket, state);
    this.byKey.delete(String(keyId));
  }

  private forget(key: string, state: SocketState): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const entry of set) if (entry.state === state) set.delete(entry);
    if (set.size === 0) this.byKey.delete(key);
  }
}

export function sessionOf(row: KeyRow): Session {
  return { keyId: row.id, userId: row.user_id, name: row.name, persistent: Boolean(row.persistent), issuedAt: row.issued_at };
}

/** The key row of a presented `{ name, token }`, or undefined when it does not match. */
export async function verifyToken(store: AuthStore, name: unknown, token: unknown): Promise<KeyRow | undefined> {
  if (typeof name !== 'string' || typeof token !== 'string' || token.length === 0 || token.length > 200) return undefined;
  const hash = hashToken(token);
  const row = await store.findKey(hash);
  if (!row || !sameHash(row.token_hash, hash) || row.name.toLowerCase() !== name.toLowerCase()) return undefined;
  return row;
}

/**
 * A session older than tokenTimeout: a persistent one gets a new token, pushed
 * on `auth_data`; any other is revoked and the call fails with "Logged out.".
 */
export async function ensureFresh(session: Session, socket: Socket, store: AuthStore, settings: Settings, onRevoke: () => void): Promise<void> {
  if (Date.now() - session.issuedAt <= settings.auth.tokenTimeoutMs) return;
  if (session.renewing) return session.renewing;
  if (!session.persistent) {
    await store.deleteKey(session.keyId);
    onRevoke();
    throw new SockeyError('UNAUTHORIZED', 'Logged out.');
  }
  session.renewing = (async () => {
    const token = newToken();
    const now = Date.now();
    await store.renewKey(session.keyId, hashToken(token), now);
    session.issuedAt = now;
    socket.emit(settings.auth.event + settings.socket.data, dataEnvelope({ name: session.name, token, renewed: true }));
  })().finally(() => {
    session.renewing = undefined;
  });
  return session.renewing;
}

import type { Socket } from 'socket.io';
import type { Settings } from '../manifest/settings.js';
import { userRoom } from '../core/rooms.js';
import { systemClock, type Clock } from '../core/clock.js';
import { dataEnvelope } from '../core/envelope.js';
import { SockeyError } from '../core/errors.js';
import type { CallState } from '../core/route.js';
import type { AuthStore, KeyRow } from './store.js';
import type { PeerChannel } from '../cluster/peers.js';
import { hashToken, newToken, sameHash } from './tokens.js';

/** One signed-in session: one user_keys row, shared by every socket using its token. The token itself is never kept. */
export interface Session {
  keyId: number | string;
  userId: number | string;
  name: string;
  persistent: boolean;
  issuedAt: number;
  /** Set while a renewal is under way, so concurrent messages renew once. */
  renewing?: Promise<void>;
}

/** What the nodes of a cluster tell each other about sessions (the renewal carries the new token to the session's sockets). */
export type SessionMessage = { type: 'revoke'; keyId: number | string } | { type: 'renew'; keyId: number | string; issuedAt: number; event: string; envelope: unknown };

interface KeyEntry {
  session: Session;
  members: Set<{ socket: Socket; state: CallState }>;
  /** Sockets that presented the key per message (`user: { name, key }`) without signing in: their timers run as this user. */
  borrowers: Map<CallState, Socket>;
  /** Fires when a non-persistent session's token times out, with or without a message to notice it. */
  expiry?: NodeJS.Timeout;
}

/** setTimeout's longest delay; a later expiry is noticed by the next message instead. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Which sockets use which key. Sockets on one key share one Session, so a
 * renewal happens once and reaches them all, and a logout signs them all out.
 */
export class SessionIndex {
  private readonly byKey = new Map<string, KeyEntry>();
  /** Sockets whose disconnect already signs them out (one listener each, however often they sign in). */
  private readonly tracked = new WeakSet<Socket>();
  /** The keys each socket presented per message, to forget it when it disconnects. */
  private readonly borrowed = new WeakMap<CallState, Set<string>>();
  private timeoutMs: number | undefined;
  /** The other nodes of the cluster, when there are any. */
  private peers: PeerChannel<SessionMessage> | undefined;

  constructor(readonly clock: Clock = systemClock) {}

  /** Shares revocations and renewals with the other nodes, and applies theirs here. */
  shareWith(peers: PeerChannel<SessionMessage>): void {
    this.peers = peers;
    peers.receive((m) => {
      if (m.type === 'revoke') this.revokeHere(m.keyId);
      else this.renewedElsewhere(m);
    });
  }

  /** How long a token lives before it must be renewed (auth.tokenTimeout, set on every load). */
  expireAfter(timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
  }

  /** A token issued at `issuedAt` is still within tokenTimeout. */
  isFresh(issuedAt: number): boolean {
    return this.timeoutMs === undefined || this.clock.now() - issuedAt <= this.timeoutMs;
  }

  /** The live Session of a key row (shared), or a new one for a key no socket uses yet. */
  sessionFor(row: KeyRow): Session {
    return this.byKey.get(String(row.id))?.session ?? { keyId: row.id, userId: row.user_id, name: row.name, persistent: Boolean(row.persistent), issuedAt: row.issued_at };
  }

  signIn(socket: Socket, state: CallState, session: Session): void {
    // Signing in again as the same user keeps the rooms joined as them; as someone else, it leaves them.
    const sameUser = state.user !== null && String(state.user.id) === String(session.userId);
    this.signOut(socket, state, sameUser);
    const entry = this.entryFor(session);
    state.user = { id: entry.session.userId, name: entry.session.name };
    state.session = entry.session;
    // Other nodes read the user through fetchSockets (presence); a recovered socket gets both back (connection-state recovery).
    socket.data = { ...socket.data, user: { ...state.user }, keyId: entry.session.keyId };
    void socket.join(userRoom(entry.session.userId));
    entry.members.add({ socket, state });
    this.track(socket, state);
  }

  /** A socket used the key per message: a revocation or expiry of the key stops the timers it started as that user. */
  lend(session: Session, socket: Socket, state: CallState): void {
    const key = String(session.keyId);
    this.entryFor(session).borrowers.set(state, socket);
    let keys = this.borrowed.get(state);
    if (!keys) this.borrowed.set(state, (keys = new Set()));
    keys.add(key);
    this.track(socket, state);
  }

  private entryFor(session: Session): KeyEntry {
    const key = String(session.keyId);
    let entry = this.byKey.get(key);
    if (!entry) {
      this.byKey.set(key, (entry = { session, members: new Set(), borrowers: new Map() }));
      this.scheduleExpiry(key, entry);
    }
    return entry;
  }

  private track(socket: Socket, state: CallState): void {
    if (this.tracked.has(socket)) return;
    this.tracked.add(socket);
    socket.once('disconnect', () => {
      this.signOut(socket, state);
      for (const key of this.borrowed.get(state) ?? []) {
        this.byKey.get(key)?.borrowers.delete(state);
        this.dropIfUnused(key);
      }
      this.borrowed.delete(state);
    });
  }

  signOut(socket: Socket, state: CallState, sameUser = false): void {
    const session = state.session as Session | undefined;
    if (!session) return;
    state.user = null;
    state.session = undefined;
    // On disconnect the data is kept: it was saved for the socket's recovery.
    if (socket.connected) socket.data = { ...socket.data, user: undefined, keyId: undefined };
    // Timers started as this user must not go on speaking for them, nor rooms joined as them go on listening.
    state.timers.clearSignedIn();
    if (!sameUser) leaveSignedInRooms(socket, state);
    void socket.leave(userRoom(session.userId));
    this.forget(String(session.keyId), state);
  }

  /** Signs out every socket using the key (after a logout revoked it, or it expired), on every node. */
  revoke(keyId: number | string): void {
    this.revokeHere(keyId);
    this.peers?.send({ type: 'revoke', keyId });
  }

  /** A renewal done here: the other nodes push the new token to their sockets of the session. */
  renewed(session: Session, event: string, envelope: unknown): void {
    this.notify(session.keyId, event, envelope);
    this.peers?.send({ type: 'renew', keyId: session.keyId, issuedAt: session.issuedAt, event, envelope });
  }

  private renewedElsewhere(m: Extract<SessionMessage, { type: 'renew' }>): void {
    const entry = this.byKey.get(String(m.keyId));
    if (!entry) return;
    entry.session.issuedAt = m.issuedAt;
    clearTimeout(entry.expiry);
    this.scheduleExpiry(String(m.keyId), entry);
    this.notify(m.keyId, m.event, m.envelope);
  }

  private revokeHere(keyId: number | string): void {
    const entry = this.byKey.get(String(keyId));
    if (!entry) return;
    for (const { socket, state } of [...entry.members]) this.signOut(socket, state);
    for (const [state, socket] of entry.borrowers) releaseSignedIn(socket, state);
    clearTimeout(entry.expiry);
    this.byKey.delete(String(keyId));
  }

  /**
   * When a non-persistent token times out, the timers its sockets started stop at once. The sockets
   * stay signed in until their next message, which answers "Logged out." as the protocol says.
   */
  private scheduleExpiry(key: string, entry: KeyEntry): void {
    if (this.timeoutMs === undefined || entry.session.persistent) return;
    const delay = entry.session.issuedAt + this.timeoutMs - this.clock.now() + 1;
    if (delay > MAX_DELAY_MS) return;
    entry.expiry = setTimeout(
      () => {
        if (this.byKey.get(key) !== entry) return;
        for (const { socket, state } of entry.members) releaseSignedIn(socket, state);
        for (const [state, socket] of entry.borrowers) releaseSignedIn(socket, state);
      },
      Math.max(0, delay),
    );
    entry.expiry.unref();
  }

  has(keyId: number | string, socket: Socket): boolean {
    for (const m of this.byKey.get(String(keyId))?.members ?? []) if (m.socket === socket) return true;
    return false;
  }

  /** Sends to every socket signed in with the key. */
  notify(keyId: number | string, event: string, payload: unknown): void {
    for (const { socket } of this.byKey.get(String(keyId))?.members ?? []) socket.emit(event, payload);
  }

  private forget(key: string, state: CallState): void {
    const entry = this.byKey.get(key);
    if (!entry) return;
    for (const m of entry.members) if (m.state === state) entry.members.delete(m);
    this.dropIfUnused(key);
  }

  private dropIfUnused(key: string): void {
    const entry = this.byKey.get(key);
    if (entry && entry.members.size === 0 && entry.borrowers.size === 0) {
      clearTimeout(entry.expiry);
      this.byKey.delete(key);
    }
  }
}

/** What a signed-in user started on a socket ends with their session: timers stop, rooms joined as them are left. */
function releaseSignedIn(socket: Socket, state: CallState): void {
  state.timers.clearSignedIn();
  leaveSignedInRooms(socket, state);
}

function leaveSignedInRooms(socket: Socket, state: CallState): void {
  for (const room of state.signedInRooms) void socket.leave(room);
  state.signedInRooms.clear();
  const ends = [...state.signedInEnds];
  state.signedInEnds.clear();
  for (const end of ends) end();
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
 * A session older than tokenTimeout: a persistent one gets a new token,
 * pushed on `auth_data` to every socket of the session (and to `socket`, which
 * may have presented the key per message); any other is revoked and the call
 * fails with "Logged out.".
 */
export async function ensureFresh(session: Session, socket: Socket, store: AuthStore, settings: Settings, sessions: SessionIndex): Promise<void> {
  if (sessions.isFresh(session.issuedAt)) return;
  if (session.renewing) return session.renewing;
  if (!session.persistent) {
    await store.deleteKey(session.keyId);
    sessions.revoke(session.keyId);
    throw new SockeyError('UNAUTHORIZED', 'Logged out.');
  }
  session.renewing = (async () => {
    const token = newToken();
    const now = sessions.clock.now();
    await store.renewKey(session.keyId, hashToken(token), now);
    session.issuedAt = now;
    const event = settings.auth.event + settings.socket.data;
    const envelope = dataEnvelope({ name: session.name, token, renewed: true });
    sessions.renewed(session, event, envelope);
    if (!sessions.has(session.keyId, socket)) socket.emit(event, envelope);
  })().finally(() => {
    session.renewing = undefined;
  });
  return session.renewing;
}

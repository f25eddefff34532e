import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import { dataEnvelope } from './envelope.js';
import { joinRoom } from './rooms.js';
import type { AuthUser, Call } from './route.js';

/** The events a presence room receives when a user's first socket joins it and their last one leaves. */
export const PRESENCE_JOIN = 'presence.join';
export const PRESENCE_LEAVE = 'presence.leave';

/** How long a member list waits for the other nodes before it answers this node's view. */
const FETCH_TIMEOUT_MS = 1500;

/** What a socket keeps in `socket.data` of each room it joined with presence (other nodes read it through fetchSockets). */
interface PresenceEntry {
  id: number | string;
  name: string;
  /** When it joined (ms), with the socket id the tie-break between two sockets of one user. */
  at: number;
}

type PresenceData = { presence?: Record<string, PresenceEntry> };
type Member = { id: string; data: unknown };

const entryOf = (s: { data: unknown }, room: string): PresenceEntry | undefined => (s.data as PresenceData | undefined)?.presence?.[room];
const sameUser = (a: PresenceEntry, b: PresenceEntry) => String(a.id) === String(b.id);
const userOf = (e: PresenceEntry): AuthUser => ({ id: e.id, name: e.name });

/**
 * `join: { room, presence: true }`: joins the room and, for a signed-in call,
 * marks the socket as a member; the room hears `presence.join` when this is
 * the user's first socket in it (on any node). A guest only joins.
 */
export function joinPresence(call: Pick<Call, 'socket' | 'auth' | 'state' | 'io' | 'log'>, room: string): Promise<void> | void {
  const { socket, auth } = call;
  if (auth === null) return joinRoom(call, room);
  watchPresence(call.io, call.log);
  const data = socket.data as PresenceData;
  const had = data.presence?.[room];
  const fresh = !had || String(had.id) !== String(auth.id);
  if (fresh) data.presence = { ...data.presence, [room]: { id: auth.id, name: auth.name, at: Date.now() } };
  const joined = joinRoom(call, room);
  if (fresh) {
    if (joined instanceof Promise) return joined.then(() => announceJoin(call.io, call.log, socket, room));
    announceJoin(call.io, call.log, socket, room);
  }
  return joined;
}

/** Announces a recovered socket's presence rooms again (its disconnect announced it gone). */
export function restorePresence(io: Server, log: Logger, socket: Socket): void {
  const rooms = Object.keys((socket.data as PresenceData).presence ?? {});
  if (rooms.length) watchPresence(io, log);
  for (const room of rooms) {
    if (socket.rooms.has(room)) announceJoin(io, log, socket, room);
    else dropEntry(socket, room);
  }
}

/** Forgets a socket's presence without announcing anything (a recovered session that was revoked meanwhile). */
export function forgetPresence(socket: Socket): void {
  const data = socket.data as PresenceData;
  if (data.presence) socket.data = { ...data, presence: undefined };
}

/** Servers whose rooms are watched for presence. */
const watched = new WeakSet<Server>();

/**
 * Watches the namespace's rooms: however a member socket leaves a presence
 * room (`leave:`, a hook, sign-out, disconnect), the room hears
 * `presence.leave` when it was the user's last socket in it. Started by the
 * first presence join (or recovered member): a listener on the adapter's
 * rooms cost an app without presence about a tenth of a primary-key read's
 * throughput in `npm run bench` (user.get 0.82× with it, 0.96–1.09× without).
 */
function watchPresence(io: Server, log: Logger): void {
  if (watched.has(io)) return;
  watched.add(io);
  const nsp = io.of('/');
  nsp.adapter.on('leave-room', (room: string, id: string) => {
    const socket = nsp.sockets.get(id);
    const entry = socket && entryOf(socket, room);
    if (!socket || !entry) return;
    dropEntry(socket, room);
    // Another of the user's sockets on this node is still in: nothing changes (known at once, without asking the others).
    if (localSockets(io, room).some((s) => s.id !== id && sameUserIn(s, room, entry))) return;
    void members(io, log, room).then((all) => {
      if (all.some((s) => sameUserIn(s, room, entry))) return;
      io.to(room).emit(PRESENCE_LEAVE, dataEnvelope({ room, user: userOf(entry) }));
    });
  });
}

/** The room's members, one `{ id, name }` per user however many sockets they have in it, on every node. */
export async function presenceList(io: Server, log: Logger, room: string): Promise<AuthUser[]> {
  const seen = new Map<string, AuthUser>();
  for (const s of await members(io, log, room)) {
    const e = entryOf(s, room);
    if (e && !seen.has(String(e.id))) seen.set(String(e.id), userOf(e));
  }
  return [...seen.values()];
}

function announceJoin(io: Server, log: Logger, socket: Socket, room: string): void {
  const mine = entryOf(socket, room);
  if (!mine) return;
  // A socket of the user already here on this node joined earlier: the room knows the user.
  if (localSockets(io, room).some((s) => s.id !== socket.id && sameUserIn(s, room, mine))) return;
  void members(io, log, room).then((all) => {
    // Two sockets of one user joining at once (on two nodes) both see each other: the earlier one announces.
    const earlier = all.some((s) => {
      const e = s.id !== socket.id ? entryOf(s, room) : undefined;
      return e !== undefined && sameUser(e, mine) && (e.at < mine.at || (e.at === mine.at && s.id < socket.id));
    });
    if (earlier || entryOf(socket, room) !== mine || !socket.connected) return;
    io.to(room).emit(PRESENCE_JOIN, dataEnvelope({ room, user: userOf(mine) }));
  });
}

function sameUserIn(s: Member, room: string, entry: PresenceEntry): boolean {
  const e = entryOf(s, room);
  return e !== undefined && sameUser(e, entry);
}

/** A new `data` object, not a changed one: a disconnecting socket's data was just saved for its recovery, by reference. */
function dropEntry(socket: Socket, room: string): void {
  const data = socket.data as PresenceData;
  if (!data.presence?.[room]) return;
  const { [room]: _gone, ...rest } = data.presence;
  socket.data = { ...data, presence: rest };
}

function localSockets(io: Server, room: string): Member[] {
  const nsp = io.of('/');
  const out: Member[] = [];
  for (const id of nsp.adapter.rooms.get(room) ?? []) {
    const s = nsp.sockets.get(id);
    if (s) out.push(s);
  }
  return out;
}

/** The room's sockets on every node (with `cluster:`); when a node does not answer in time or Redis is down, this node's. */
async function members(io: Server, log: Logger, room: string): Promise<Member[]> {
  try {
    return await io.timeout(FETCH_TIMEOUT_MS).in(room).fetchSockets();
  } catch (e) {
    log.debug({ room, err: (e as Error)?.message }, 'presence: the other nodes did not answer; using this node only');
    return localSockets(io, room);
  }
}

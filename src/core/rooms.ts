import type { Server } from 'socket.io';
import { SockeyError } from './errors.js';
import type { Call } from './route.js';

/** Rooms sockey keeps for itself (a user's sockets, and later presence and live queries). */
export const RESERVED_ROOM_PREFIX = 'sockey:';

/** Joins a room for a call; a signed-in call's room is remembered, so a sign-out leaves it. */
export function joinRoom(call: Pick<Call, 'socket' | 'auth' | 'state'>, room: string): Promise<void> | void {
  if (call.auth !== null) call.state.signedInRooms.add(room);
  return call.socket.join(room);
}

export function leaveRoom(call: Pick<Call, 'socket' | 'state'>, room: string): Promise<void> | void {
  call.state.signedInRooms.delete(room);
  return call.socket.leave(room);
}

/** The room every socket of a signed-in user joins, for `to: user`. */
export function userRoom(id: number | string): string {
  return `${RESERVED_ROOM_PREFIX}user:${id}`;
}

/**
 * A room name that came from a template or a hook: never one of sockey's
 * own rooms, nor a socket's private room (socket.io names it by the socket
 * id), so a payload cannot join or address another user's sockets.
 */
export function checkAppRoom(room: string, io: Server): string {
  if (room.startsWith(RESERVED_ROOM_PREFIX) || io.of('/').adapter.sids.has(room)) {
    throw new SockeyError('FORBIDDEN', `Forbidden: room "${room}" is reserved.`);
  }
  return room;
}

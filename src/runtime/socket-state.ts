import type { AuthUser, CallState } from '../core/route.js';
import { SocketTimers } from '../core/timers.js';

/** What sockey keeps per connected socket; all of it dies with the socket. */
export class SocketState implements CallState {
  readonly timers = new SocketTimers();
  /** Per-route rate-limit windows of this socket. */
  readonly windows = new Map<object, { start: number; count: number }>();
  /** Set by a login/register on this socket, or the handshake. */
  user: AuthUser | null = null;
  /** Opaque data of the auth module (token, persistence). */
  session: unknown = undefined;
  /** Settles when connection-time work (handshake authentication) is done. */
  ready: Promise<void> | undefined = undefined;
  /** Rooms joined by calls made as a signed-in user: left when that user signs out. */
  readonly signedInRooms = new Set<string>();
  readonly signedInEnds = new Set<() => void>();

  /** @param address the client's address, resolved once at connection (client-address.ts). */
  constructor(readonly address = '') {}

  dispose(): void {
    this.timers.clearAll();
    this.windows.clear();
    this.signedInRooms.clear();
    this.signedInEnds.clear();
    this.user = null;
    this.session = undefined;
  }
}

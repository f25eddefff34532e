import type { Server } from 'socket.io';

/** Messages to and from the other nodes of a cluster (never to this one). */
export interface PeerChannel<T> {
  send(message: T): void;
  receive(handler: (message: T) => void): void;
}

/**
 * A channel over socket.io's server-side emits, which the cluster's adapter
 * carries to every other node. Sending while Redis is down drops the message
 * (the adapter logs it at debug level); a node never fails for it.
 */
export function peerChannel<T>(io: Server, name: string): PeerChannel<T> {
  return {
    send(message) {
      try {
        io.serverSideEmit(name, message);
      } catch {
        // An adapter without server-side emits (one process): there is nobody to tell.
      }
    },
    receive(handler) {
      io.on(name, (message: T) => {
        try {
          handler(message);
        } catch {
          // A malformed message from another node is ignored, not fatal.
        }
      });
    },
  };
}

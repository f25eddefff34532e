import type { Server, Socket } from 'socket.io';
import type { ClusterLink } from './link.js';

/** socket.io saves a session for these disconnect reasons only (socket.io's RECOVERABLE_DISCONNECT_REASONS). */
const RECOVERABLE = new Set(['transport error', 'transport close', 'forced close', 'ping timeout', 'server shutting down', 'forced server close']);

interface SessionAdapter {
  persistSession(session: { sid: string; pid: string; rooms: string[]; data: unknown }): void;
}

/**
 * socket.io saves a socket's session (id, rooms, data) when it disconnects,
 * so a node that is killed saves nothing and its clients could not recover
 * on another node. With `cluster:` and `server.recovery`, each node saves
 * its sockets' sessions ahead, in Redis under the same keys socket.io uses:
 * at connection, after every change of a socket's rooms (sign-in and sign-out
 * change rooms too; at most one write per socket per tick), and again every
 * half window so the key outlives the socket by at least half a window. A
 * socket that leaves for good (its own or the server's disconnect) has its key
 * deleted, so it cannot be taken up again. Returns a function that stops it.
 */
export function saveSessionsAhead(io: Server, link: ClusterLink, windowMs: number): () => void {
  const nsp = io.of('/');
  const adapter = nsp.adapter as unknown as SessionAdapter;
  const pending = new Set<string>();
  const pidOf = (socket: Socket) => (socket as unknown as { pid?: string }).pid;
  const save = (socket: Socket | undefined) => {
    const pid = socket && pidOf(socket);
    // After a disconnect socket.io saved the session itself (or it must not be taken up again).
    if (!socket?.connected || !pid) return;
    adapter.persistSession({ sid: socket.id, pid, rooms: [...socket.rooms], data: socket.data });
  };
  const schedule = (id: string) => {
    if (pending.size === 0) setImmediate(flush);
    pending.add(id);
  };
  const flush = () => {
    for (const id of pending) save(nsp.sockets.get(id));
    pending.clear();
  };
  nsp.adapter.on('join-room', (_room: string, id: string) => schedule(id));
  nsp.adapter.on('leave-room', (_room: string, id: string) => schedule(id));
  nsp.on('connection', (socket) => {
    schedule(socket.id);
    socket.on('disconnect', (reason) => {
      const pid = pidOf(socket);
      if (pid && !RECOVERABLE.has(reason)) link.client.del(link.key(`session:${pid}`)).catch(() => undefined);
    });
  });
  const timer = setInterval(
    () => {
      for (const socket of nsp.sockets.values()) save(socket);
    },
    Math.max(500, Math.floor(windowMs / 2)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

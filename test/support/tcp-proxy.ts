import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free port of 127.0.0.1 to `target`: a server pointed
 * through it loses its database (or Redis) when the proxy stops, while the
 * real one keeps serving everyone else. `stop()` closes the port and drops
 * every connection (the server sees them reset and new ones refused);
 * `start()` listens again on the same port.
 */
export interface TcpProxy {
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function tcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const start = async () => {
    if (server) return;
    const s = createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  await start();
  return {
    get port() {
      return port;
    },
    start,
    async stop() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

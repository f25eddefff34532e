// The socket.io client the server hands out at /socket.io/socket.io.js (global `io`).
// Only what the playground uses; no npm import, no bundler.

interface IoSocket {
  readonly id: string | undefined;
  readonly connected: boolean;
  // Listeners take what the server sent: each caller narrows it.
  on(event: string, listener: (...args: never[]) => void): IoSocket;
  off(event: string, listener?: (...args: never[]) => void): IoSocket;
  onAny(listener: (event: string, ...args: unknown[]) => void): IoSocket;
  emit(event: string, ...args: unknown[]): IoSocket;
  timeout(ms: number): IoSocket;
  connect(): IoSocket;
  disconnect(): IoSocket;
  auth: Record<string, unknown> | ((cb: (data: object) => void) => void);
}

interface IoOptions {
  auth?: Record<string, unknown> | ((cb: (data: object) => void) => void);
  transports?: string[];
  forceNew?: boolean;
}

declare function io(nsp?: string, options?: IoOptions): IoSocket;

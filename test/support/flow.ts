import type { Socket as ClientSocket } from 'socket.io-client';
import { sleep } from './util.js';

/**
 * Waits until every packet the server sent to these sockets before now has
 * arrived: each socket emits an event no route declares and awaits its ack.
 * A socket's packets arrive in order, so once the ack is back, anything the
 * server emitted to that socket earlier has been delivered too. (This relies
 * on UNKNOWN_EVENT being acked, which errors.test.ts checks on its own.)
 */
export async function flush(...sockets: ClientSocket[]): Promise<void> {
  await Promise.all(sockets.map((s) => s.timeout(3000).emitWithAck('__sockey_test_flush__')));
}

/** Every event name (and payload) a socket receives from now on. */
export function record(socket: ClientSocket): Array<{ event: string; payload: unknown }> {
  const seen: Array<{ event: string; payload: unknown }> = [];
  socket.onAny((event: string, payload: unknown) => seen.push({ event, payload }));
  return seen;
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** `{ ok: true, err: false, res }`: the success envelope. */
export const ok = (res: unknown) => ({ ok: true, err: false, res });

import { inspect } from 'node:util';
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

/**
 * Calls `probe` until `accept` holds for what it returned (a probe that throws
 * is tried again), and resolves with that value; fails after `timeoutMs` with
 * the last value or error seen. For state that has no event to wait on (a log
 * line, a server-side map, a file watcher's reload): never to prove that
 * nothing happened.
 */
export async function eventually<T>(probe: () => Promise<T> | T, accept: (v: T) => boolean, what: string, timeoutMs = 5000, everyMs = 10): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: { value?: T; error?: unknown };
  for (;;) {
    try {
      const value = await probe();
      last = { value };
      if (accept(value)) return value;
    } catch (error) {
      last = { error };
    }
    if (Date.now() > end) {
      const seen = 'error' in last ? inspect(last.error) : JSON.stringify(last.value);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}`);
    }
    await sleep(everyMs);
  }
}

/** `{ ok: true, err: false, res }`: the success envelope. */
export const ok = (res: unknown) => ({ ok: true, err: false, res });

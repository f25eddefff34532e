import { randomBytes } from 'node:crypto';

/**
 * Message ids for the logs: a number per message (a counter of this process,
 * free to take), written as `<process>-<counter>` in base 36 only when a line
 * names it. The 4-character process part tells apart the lines of the workers
 * and nodes that log to one place.
 */
const PROCESS = randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4);

let last = 0;

/** The next message's id (a number: formatting waits until a line needs it). */
export function nextMessageId(): number {
  return ++last;
}

/** How an id reads in the logs (`msgId`): `k3x9-1a`. */
export function formatMessageId(id: number): string {
  return `${PROCESS}-${id.toString(36)}`;
}

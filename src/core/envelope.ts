import { isSockeyError } from './errors.js';
import type { DataEnvelope, ErrorEnvelope } from './wire.js';

export type { DataEnvelope, ErrorEnvelope } from './wire.js';

export function dataEnvelope<T>(res: T): DataEnvelope<T> {
  return { ok: true, err: false, res };
}

export function errorEnvelope(code: string, err: string, details?: unknown): ErrorEnvelope {
  return details === undefined ? { ok: false, err, res: false, code } : { ok: false, err, res: false, code, details };
}

/**
 * Turns anything thrown while handling a message into an envelope. Only
 * SockeyErrors keep their text; anything else becomes INTERNAL with no stack.
 */
export function toErrorEnvelope(e: unknown): ErrorEnvelope {
  if (isSockeyError(e)) return errorEnvelope(e.code, e.message, e.details);
  return errorEnvelope('INTERNAL', 'Internal error.');
}

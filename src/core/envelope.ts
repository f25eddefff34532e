import { isSockeyError } from './errors.js';

/** What every `<event>_data` packet and successful ack carries. */
export interface DataEnvelope<T = unknown> {
  ok: true;
  err: false;
  res: T;
}

/** What every `<event>_error` packet and failed ack carries. */
export interface ErrorEnvelope {
  ok: false;
  err: string;
  res: false;
  code: string;
  details?: unknown;
}

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

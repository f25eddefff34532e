/**
 * The error codes a client can receive in an error envelope, in one place.
 * Each key equals its code; `message` is the default human text.
 */
export const ERROR_CODES = {
  VALIDATION: { message: 'Invalid parameters.' },
  UNAUTHORIZED: { message: 'Not signed in.' },
  FORBIDDEN: { message: 'Forbidden.' },
  NOT_FOUND: { message: 'Not found.' },
  RATE_LIMITED: { message: 'Too many requests, slow down.' },
  DB_ERROR: { message: 'Database error.' },
  INTERNAL: { message: 'Internal error.' },
  UNKNOWN_EVENT: { message: 'Unknown event.' },
  BAD_REQUEST: { message: 'Bad request.' },
  CONFLICT: { message: 'Already exists.' },
  LIVE_ENDED: { message: 'Live query ended.' },
  UNAVAILABLE: { message: 'The server is shutting down: try again (another node will answer).' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An error with a code a client may see. Throw one from a hook to answer with
 * that code and message instead of `INTERNAL`.
 *
 * @example
 * import { SockeyError } from 'sockey';
 * throw new SockeyError('NOT_FOUND', 'No such room.', { room });
 */
class SockeyErrorClass extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(code: ErrorCode | (string & {}), message?: string, details?: unknown) {
    super(message ?? (ERROR_CODES as Record<string, { message: string }>)[code]?.message ?? code);
    this.name = 'SockeyError';
    this.code = code;
    this.details = details;
  }
}

// One class per process: a hook's `import { SockeyError } from 'sockey'` may load another copy of
// this module (a fresh tsx namespace per reload, or the package's dist beside the server's src),
// and `instanceof` must still hold.
const REGISTRY = Symbol.for('sockey.SockeyError');
const shared = globalThis as { [REGISTRY]?: typeof SockeyErrorClass };

export const SockeyError: typeof SockeyErrorClass = (shared[REGISTRY] ??= SockeyErrorClass);
export type SockeyError = SockeyErrorClass;

/** A SockeyError, or an error shaped like one (`name: 'SockeyError'` and a string `code`) that a hook built itself. */
export function isSockeyError(e: unknown): e is SockeyError {
  return e instanceof SockeyError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'SockeyError' && typeof (e as { code?: unknown }).code === 'string');
}

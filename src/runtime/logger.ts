import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';

/**
 * Short human lines by default, JSON lines with `--log json`; both on stderr so
 * stdout stays for command output. Passwords and tokens are redacted wherever they appear.
 */
/** The paths whose values never reach a log line. */
const SECRET_FIELDS = ['password', 'token', 'key', 'url'];

/** Where those fields are found: at the top, one or two objects down, and in the items of a list. */
export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*[*].${f}`]);

export function createLogger(options: { format?: LogFormat; level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.SOCKEY_LOG_LEVEL ?? 'info';
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' };
  const destination = options.destination ?? process.stderr;
  if (options.format === 'json') return pino({ level, redact, base: undefined }, options.destination ?? pino.destination({ dest: 2, sync: true }));
  const stream = pretty({
    destination,
    sync: true,
    colorize: Boolean((destination as NodeJS.WriteStream).isTTY),
    translateTime: 'HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino({ level, redact, base: undefined }, stream);
}

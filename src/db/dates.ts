/**
 * Dates as both drivers answer and bind them (SPEC §5): a DATETIME or
 * TIMESTAMP reads as ISO 8601 UTC (`2026-12-01T07:39:34.000Z`), a DATE as
 * `2026-12-01`; a `format: date-time` param binds as UTC
 * `2026-12-01 07:39:34[.123]`, which a MySQL/MariaDB DATETIME accepts in
 * strict mode and which compares as text with SQLite's CURRENT_TIMESTAMP.
 */

// 2026-12-01, 2026-12-01 07:39, 2026-12-01T07:39:34.123456, ...Z, ...+02:00, ...+0200, ...+02
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/** Milliseconds since the epoch of a date or date-time text (UTC when it has no offset), or NaN. */
export function parseDateTime(text: string): number {
  const m = DATE_TIME.exec(text);
  if (!m) return NaN;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', , sign, oh = '0', om = '0'] = m;
  const year = +y!;
  const month = +mo! - 1;
  const day = +d!;
  const hour = +h;
  const minute = +mi;
  const second = +s;
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, frac ? +frac.slice(0, 3).padEnd(3, '0') : 0);
  // 2026-02-30 or 25:00 roll over: not a date as stored.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month || date.getUTCDate() !== day || date.getUTCHours() !== hour || date.getUTCMinutes() !== minute || date.getUTCSeconds() !== second)
    return NaN;
  const offset = sign ? (sign === '-' ? -1 : 1) * (+oh * 60 + +om) * 60_000 : 0;
  return date.getTime() - offset;
}

/** A stored date-time text as ISO 8601 UTC, or undefined when it does not parse. */
export function isoDateTime(text: string): string | undefined {
  const ms = parseDateTime(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** A Date as ISO 8601 UTC; null for an invalid one (MySQL's zero date), as JSON.stringify answers it. */
export function isoOfDate(d: Date): string | null {
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A Date as the UTC text a DATETIME column accepts: `2026-12-01 07:39:34`, with `.123` when it has milliseconds. */
export function sqlDateTimeOf(d: Date): string {
  const iso = d.toISOString();
  const ms = iso.slice(19, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms === '.000' ? '' : ms}`;
}

/**
 * A `format: date-time` value as it binds: an RFC 3339 text (any offset)
 * becomes UTC `YYYY-MM-DD HH:MM:SS[.fff]`, a Date the same; anything that
 * does not parse is handed back as given (the database then decides).
 */
export function toSqlDateTime(v: unknown): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : sqlDateTimeOf(v);
  if (typeof v !== 'string') return v;
  const ms = parseDateTime(v);
  return Number.isNaN(ms) ? v : sqlDateTimeOf(new Date(ms));
}

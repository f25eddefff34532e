const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };

/** `200ms`, `5s`, `1.5m`, `2h` or a number of milliseconds; undefined when it does not parse. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  return m ? Math.round(Number(m[1]) * UNITS[m[2]!]!) : undefined;
}

/** `512kb`, `1mb` or a number of bytes; undefined when it does not parse. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb)\s*$/i.exec(value);
  return m ? Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!) : undefined;
}

import { describe, expect, it } from 'vitest';
import { isoDateTime, toSqlDateTime } from '../../src/db/dates.js';
import { bindingFor, toSqlValue } from '../../src/db/driver.js';

describe('isoDateTime (stored SQLite text to ISO 8601 UTC)', () => {
  it('reads what SQLite and apps write: a space or T, seconds optional, fractions, Z or an offset', () => {
    expect(isoDateTime('2026-12-01 07:39:34')).toBe('2026-12-01T07:39:34.000Z');
    expect(isoDateTime('2026-12-01 07:39:34.123')).toBe('2026-12-01T07:39:34.123Z');
    expect(isoDateTime('2026-12-01 07:39:34.123456')).toBe('2026-12-01T07:39:34.123Z');
    expect(isoDateTime('2026-12-01T07:39:34Z')).toBe('2026-12-01T07:39:34.000Z');
    expect(isoDateTime('2026-12-01T07:39:34.5z')).toBe('2026-12-01T07:39:34.500Z');
    expect(isoDateTime('2026-12-01T09:39:34+02:00')).toBe('2026-12-01T07:39:34.000Z');
    expect(isoDateTime('2026-12-01T02:39:34-0500')).toBe('2026-12-01T07:39:34.000Z');
    expect(isoDateTime('2026-12-01 07:39')).toBe('2026-12-01T07:39:00.000Z');
    expect(isoDateTime('2026-12-01')).toBe('2026-12-01T00:00:00.000Z');
    expect(isoDateTime('0099-01-01 00:00:00')).toBe('0099-01-01T00:00:00.000Z');
  });

  it('leaves what is not a date: undefined, so the stored text is answered as it is', () => {
    for (const text of ['', 'now', '2026-13-01 00:00:00', '2026-02-30', '2026-12-01 25:00:00', '2026-12-01 07:60:00', '1764574774', '2026-12-01 07:39:34 junk']) {
      expect(isoDateTime(text)).toBeUndefined();
    }
  });
});

describe('date-time params as they bind', () => {
  it('RFC 3339 in any offset becomes UTC YYYY-MM-DD HH:MM:SS, with milliseconds only when there are some', () => {
    expect(toSqlDateTime('2026-12-01T09:39:34+02:00')).toBe('2026-12-01 07:39:34');
    expect(toSqlDateTime('2026-12-01T07:39:34.000Z')).toBe('2026-12-01 07:39:34');
    expect(toSqlDateTime('2026-12-01t07:39:34.25z')).toBe('2026-12-01 07:39:34.250');
    expect(toSqlDateTime('2026-12-31T23:30:00-01:00')).toBe('2027-01-01 00:30:00');
    expect(toSqlDateTime(new Date('2026-12-01T07:39:34.123Z'))).toBe('2026-12-01 07:39:34.123');
  });

  it('anything else binds as given', () => {
    expect(toSqlDateTime('not a date')).toBe('not a date');
    expect(toSqlDateTime(null)).toBeNull();
    expect(toSqlDateTime(5)).toBe(5);
  });

  it('bindingFor: a converter for date-time only; toSqlValue binds a Date as UTC text', () => {
    expect(bindingFor('date-time')?.('2026-12-01T09:39:34+02:00')).toBe('2026-12-01 07:39:34');
    expect(bindingFor('date-time')?.(undefined)).toBeNull();
    expect(bindingFor('date')).toBeUndefined();
    expect(bindingFor('email')).toBeUndefined();
    expect(bindingFor(undefined)).toBeUndefined();
    expect(toSqlValue(new Date('2026-12-01T07:39:34Z'))).toBe('2026-12-01 07:39:34');
    expect(toSqlValue(new Date(NaN))).toBeNull();
  });
});

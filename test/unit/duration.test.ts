import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '../../src/core/duration.js';

describe('parseDuration', () => {
  it('reads ms, s, m and h, with decimals and spaces around, rounded to whole milliseconds', () => {
    expect(parseDuration('200ms')).toBe(200);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration(' 3 s ')).toBe(3000);
    expect(parseDuration('0.0015s')).toBe(2);
    expect(parseDuration('0ms')).toBe(0);
  });

  it('takes a non-negative number as milliseconds', () => {
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration(0)).toBe(0);
  });

  it('refuses everything else', () => {
    for (const bad of ['', '5', 's', '5 seconds', '5sec', '5S', '-5s', '1e3ms', '.5s', '5.s', '1d', '5s5', Number.NaN, Number.POSITIVE_INFINITY, -1, null, undefined, {}, ['5s'], true]) {
      expect(parseDuration(bad), inspect(bad)).toBeUndefined();
    }
  });
});

describe('parseSize', () => {
  it('reads b, kb and mb (1024-based, any case), with decimals and spaces around', () => {
    expect(parseSize('512b')).toBe(512);
    expect(parseSize('2kb')).toBe(2048);
    expect(parseSize('1mb')).toBe(1_048_576);
    expect(parseSize('1.5KB')).toBe(1536);
    expect(parseSize(' 1 Mb ')).toBe(1_048_576);
    expect(parseSize('0.5kb')).toBe(512);
  });

  it('takes a positive whole number as bytes', () => {
    expect(parseSize(1)).toBe(1);
    expect(parseSize(100_000)).toBe(100_000);
  });

  it('refuses everything else', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '', '10', 'kb', '10 bytes', '1gb', '-1kb', null, undefined, {}, true]) {
      expect(parseSize(bad), inspect(bad)).toBeUndefined();
    }
  });
});

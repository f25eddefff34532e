import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RepeatedLines } from '../../src/core/repeats.js';
import { createLogger } from '../../src/runtime/logger.js';
import { manualClock } from '../support/clock.js';

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  const clock = manualClock();
  const repeats = new RepeatedLines(createLogger({ format: 'json', destination: stream }), clock);
  return { lines, clock, repeats, msgs: () => lines.map((l) => l.msg) };
}

describe('RepeatedLines (src/core/repeats.ts)', () => {
  it('writes the first line of a kind in full, counts the same within the interval, then one summary with the count', () => {
    const { clock, repeats, lines, msgs } = setup();
    for (let i = 0; i < 4214; i++) repeats.write('error', 'k', { event: 'e', err: 'gone', msgId: `id-${i}` }, 'route failed');
    expect(lines).toEqual([expect.objectContaining({ msg: 'route failed', event: 'e', err: 'gone', msgId: 'id-0' })]);
    clock.advance(10_000);
    repeats.flush();
    expect(lines[1]).toEqual(expect.objectContaining({ msg: 'route failed: repeated 4,213 times in the last 10s', event: 'e', err: 'gone', repeated: 4213, seconds: 10 }));
    expect(lines[1]).not.toHaveProperty('msgId');
    // Quiet for an interval: forgotten, the next is in full again.
    clock.advance(10_000);
    repeats.flush();
    repeats.write('error', 'k', { event: 'e', err: 'gone', msgId: 'again' }, 'route failed');
    expect(msgs()).toEqual(['route failed', 'route failed: repeated 4,213 times in the last 10s', 'route failed']);
    repeats.close();
  });

  it('summarises on the next line of the kind when the timer has not looked yet, and at close', () => {
    const { clock, repeats, msgs } = setup();
    repeats.write('warn', 'a', { n: 1 }, 'timer action failed');
    repeats.write('warn', 'a', { n: 1 }, 'timer action failed');
    clock.advance(12_000);
    repeats.write('warn', 'a', { n: 1 }, 'timer action failed');
    expect(msgs()).toEqual(['timer action failed', 'timer action failed: repeated 2 times in the last 12s']);
    repeats.write('warn', 'a', { n: 1 }, 'timer action failed');
    clock.advance(3000);
    repeats.close();
    expect(msgs().at(-1)).toBe('timer action failed: repeated once in the last 3s');
  });

  it('past 1,000 distinct kinds, further lines are summarised by their message alone', () => {
    const { repeats, lines } = setup();
    for (let i = 0; i < 1500; i++) repeats.write('error', `k${i}`, { err: `e${i}` }, 'route failed');
    expect(lines).toHaveLength(1001);
    repeats.close();
    expect(lines[1000]).toEqual(expect.objectContaining({ msg: 'route failed', err: 'e1000' }));
    // The summary of those names no one of them.
    expect(lines.at(-1)).toEqual({
      level: 50,
      time: expect.any(Number),
      msg: 'route failed: repeated 499 times in the last 1s (lines of more kinds than are told apart, 1,000, counted together)',
      repeated: 499,
      seconds: 1,
    });
  });
});

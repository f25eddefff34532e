import type { Clock } from '../../src/core/clock.js';

/** A clock that moves only when the test moves it. */
export interface ManualClock extends Clock {
  /** Every delay asked of `wait()`, in order. */
  readonly waits: number[];
  /** Moves `now()` forward by `ms`. */
  advance(ms: number): void;
  /** Sets `now()`. */
  set(ms: number): void;
}

/**
 * The `Clock` the server, the auth plugin and the limiters take
 * (src/core/clock.ts), for tests: `now()` is the time the test set, starting
 * at `start`; `wait(ms)` records `ms` in `waits` and resolves at once without
 * moving the time (the login throttle's delay is then checked by its value,
 * not by waiting it out).
 */
export function manualClock(start = Date.UTC(2030, 0, 1)): ManualClock {
  let at = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => at,
    wait: async (ms) => {
      waits.push(ms);
    },
    advance(ms) {
      if (!(ms >= 0)) throw new Error(`a clock only moves forward (advance(${ms}))`);
      at += ms;
    },
    set(ms) {
      at = ms;
    },
  };
}

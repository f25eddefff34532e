import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';

/** How long a repeated line stays summarised: at most one line per distinct error per interval. */
export const REPEAT_INTERVAL_MS = 10_000;

/** Distinct errors summarised apart; beyond, lines are summarised by their message alone. */
const MAX_KEYS = 1000;

export type RepeatLevel = 'error' | 'warn' | 'info';

interface Seen {
  level: RepeatLevel;
  msg: string;
  /** The first line's fields, without what is its own (msgId): the summary names the error, not one message. */
  fields: Record<string, unknown>;
  /** When the current interval started (the clock's time). */
  since: number;
  /** Lines not written since then. */
  repeated: number;
  /** Lines of kinds past MAX_KEYS, counted together by their message. */
  mixed: boolean;
}

const numbers = new Intl.NumberFormat('en-US');

/**
 * Log lines that may repeat by the thousand (a route failing the same way on
 * every message during a database outage): the first one of a kind is written
 * in full; the same one again within the interval is only counted, and one
 * line per interval says how many were not written:
 * `route failed: repeated 4,213 times in the last 10s`. A kind that stays
 * quiet for a whole interval is forgotten, so its next line is written in
 * full again. Time is the clock's (tests move it); the summaries of a quiet
 * process are written by a timer that checks once a second.
 */
export class RepeatedLines {
  private readonly seen = new Map<string, Seen>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    /** Set by the server that logs here (its clock: tests move it). */
    public clock: Clock = systemClock,
    readonly intervalMs = REPEAT_INTERVAL_MS,
  ) {}

  /**
   * Writes `msg` with `fields` at `level`, or counts it when a line of the same
   * `key` (what tells two errors apart: the event, the code, the driver's
   * message) was written less than an interval ago.
   */
  write(level: RepeatLevel, key: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.clock.now();
    let k = key;
    let s = this.seen.get(k);
    const mixed = s === undefined && this.seen.size >= MAX_KEYS;
    if (mixed) {
      k = `\u0000${level}\u0000${msg}`;
      s = this.seen.get(k);
    }
    if (s === undefined) {
      this.log[level](fields, msg);
      const { msgId: _, ...rest } = fields;
      this.seen.set(k, { level, msg, fields: mixed ? {} : rest, since: now, repeated: 0, mixed });
      this.arm();
      return;
    }
    if (now - s.since < this.intervalMs) {
      s.repeated++;
      return;
    }
    // An interval has passed and the timer has not looked yet (it checks once a second).
    if (s.repeated === 0) {
      this.log[level](fields, msg);
      s.since = now;
      return;
    }
    s.repeated++;
    this.summarise(s, now);
  }

  /** Writes the summary of every kind whose interval is over (all of them with `all`), and forgets the quiet ones. */
  flush(all = false): void {
    const now = this.clock.now();
    for (const [key, s] of this.seen) {
      if (!all && now - s.since < this.intervalMs) continue;
      if (s.repeated > 0) this.summarise(s, now);
      else this.seen.delete(key);
    }
    if (all) this.seen.clear();
    if (this.seen.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** The summaries not written yet are written; nothing is kept. */
  close(): void {
    this.flush(true);
  }

  private summarise(s: Seen, now: number): void {
    const seconds = Math.max(1, Math.round((now - s.since) / 1000));
    const times = s.repeated === 1 ? 'once' : `${numbers.format(s.repeated)} times`;
    const kinds = s.mixed ? ` (lines of more kinds than are told apart, ${numbers.format(MAX_KEYS)}, counted together)` : '';
    this.log[s.level]({ ...s.fields, repeated: s.repeated, seconds }, `${s.msg}: repeated ${times} in the last ${seconds}s${kinds}`);
    s.since = now;
    s.repeated = 0;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), Math.min(1000, this.intervalMs));
    this.timer.unref();
  }
}

const byLogger = new WeakMap<Logger, RepeatedLines>();

/**
 * The summaries of a logger's repeated lines: one per logger, so that every
 * part of a server (the dispatcher, timers, hooks, live queries, schedules)
 * counts the same errors together. The server sets its clock with `repeatsFor`
 * when it starts; elsewhere the system clock is used.
 */
export function repeatsOf(log: Logger): RepeatedLines {
  let r = byLogger.get(log);
  if (!r) byLogger.set(log, (r = new RepeatedLines(log)));
  return r;
}

/** The summaries of a logger's lines, counting time on `clock`. */
export function repeatsFor(log: Logger, clock: Clock): RepeatedLines {
  const r = repeatsOf(log);
  r.clock = clock;
  return r;
}

/** A line that may repeat: the key is `msg` and the fields' values, in order. */
export function logRepeated(log: Logger, level: RepeatLevel, fields: Record<string, unknown>, msg: string, keyFields: readonly unknown[]): void {
  repeatsOf(log).write(level, `${msg}\u0000${keyFields.join('\u0000')}`, fields, msg);
}

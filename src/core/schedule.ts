import type { Action, Call } from './route.js';
import type { ScheduleSummary } from './wire.js';

/** When a schedule fires: ticks aligned to the epoch (`every`), or a cron pattern's times. */
export type ScheduleWhen = { kind: 'every'; ms: number } | { kind: 'cron'; pattern: string; timezone: string };

/** A top-level `schedules:` entry compiled: no socket, no user; `params` are `{ tick, now }`. */
export interface SchedulePlan {
  readonly name: string;
  readonly description?: string;
  readonly when: ScheduleWhen;
  /** The scheduled time of the next tick strictly after `after` (epoch ms), or undefined when there is none. */
  readonly next: (after: number) => number | undefined;
  readonly action: Action;
  /** Sends the result's envelope to the schedule's target; absent when the schedule emits nothing. */
  readonly send?: (call: Call, res: unknown, envelope: unknown) => void;
  /** The event it emits on (`<name>_data` unless `emit.event` says otherwise). */
  readonly dataEvent: string;
  /** With `cluster:` while Redis is down: run on this node anyway, or skip the tick. */
  readonly redisDown: 'local' | 'skip';
  readonly summary: ScheduleSummary;
  readonly fingerprint: string;
}

import { Cron } from 'croner';
import { parseDuration } from '../core/duration.js';
import { userRoom } from '../core/rooms.js';
import type { Call, Template } from '../core/route.js';
import type { SchedulePlan, ScheduleWhen } from '../core/schedule.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { RawEmit, RawSchedule } from '../manifest/types.js';
import { compileAction } from './action.js';
import type { DirectiveContext } from './context.js';
import { compileRoomTemplate, compileStringTemplate } from './template.js';

const MIN_INTERVAL_MS = 10;

/** What a schedule's action is handed as `params` (and `:tick` / `:now` bind in its SQL). */
export const SCHEDULE_PARAMS: ReadonlySet<string> = new Set(['tick', 'now']);

export type CompiledSchedule = Omit<SchedulePlan, 'fingerprint'> & { statements: Array<{ text: string; path: ManifestPath }> };

/**
 * One `schedules:` entry: when it fires (`every`, aligned to the epoch so
 * every node computes the same ticks, or `cron`), its action (the same keys
 * as a route's), and where the result goes (`all`, a room or a user: there is
 * no caller). `ctx` is a schedule's: no user, params `{ tick, now }`.
 */
export function compileSchedule(name: string, raw: RawSchedule, ctx: DirectiveContext): CompiledSchedule {
  const at = ctx.at;
  const when = compileWhen(raw, at, ctx);
  const { action, kind, statements } = compileAction(raw, ctx);
  const dataEvent = name + ctx.settings.socket.data;
  const emit = compileScheduleEmit(raw.emit, ctx, [...at, 'emit'], dataEvent);
  const whenText = when.kind === 'every' ? `every ${when.ms}ms` : `cron ${when.pattern}${when.timezone === 'UTC' ? '' : ` (${when.timezone})`}`;
  return {
    name,
    description: raw.description,
    when,
    next: nextTick(when),
    action,
    send: emit?.send,
    dataEvent: emit?.event ?? dataEvent,
    redisDown: raw.redisDown ?? 'local',
    summary: { name, when: whenText, action: kind, emit: emit?.describe ?? 'none', description: raw.description },
    statements,
  };
}

function compileWhen(raw: RawSchedule, at: ManifestPath, ctx: DirectiveContext): ScheduleWhen {
  const hasEvery = raw.every !== undefined;
  const hasCron = raw.cron !== undefined;
  if (hasEvery === hasCron) ctx.sink.error('SCHEDULE', at, 'a schedule needs exactly one of every or cron', { at: 'key' });
  if (raw.timezone !== undefined && !hasCron) ctx.sink.error('SCHEDULE', [...at, 'timezone'], 'timezone is only for cron', { at: 'key' });
  if (hasCron) {
    let timezone = raw.timezone ?? 'UTC';
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      ctx.sink.error('SCHEDULE', [...at, 'timezone'], `"${timezone}" is not a time zone (use an IANA name such as Europe/Berlin, or UTC)`);
      timezone = 'UTC';
    }
    try {
      new Cron(raw.cron!, { timezone, paused: true }).nextRun();
    } catch (e) {
      ctx.sink.error('SCHEDULE', [...at, 'cron'], `"${raw.cron!}" is not a cron pattern: ${(e as Error).message.replace(/^Cron\w*: /, '')}`);
      return { kind: 'every', ms: 1000 };
    }
    return { kind: 'cron', pattern: raw.cron!, timezone };
  }
  let ms = parseDuration(raw.every ?? 1000);
  if (ms === undefined) {
    ctx.sink.error('DURATION', [...at, 'every'], `"${String(raw.every)}" is not a duration (use 200ms, 5s, 1m, 2h)`);
    ms = 1000;
  } else if (ms < MIN_INTERVAL_MS) {
    ctx.sink.error('DURATION', [...at, 'every'], `every must be at least ${MIN_INTERVAL_MS}ms`);
    ms = MIN_INTERVAL_MS;
  }
  return { kind: 'every', ms };
}

function nextTick(when: ScheduleWhen): (after: number) => number | undefined {
  if (when.kind === 'every') {
    const { ms } = when;
    return (after) => (Math.floor(after / ms) + 1) * ms;
  }
  const cron = new Cron(when.pattern, { timezone: when.timezone, paused: true });
  return (after) => cron.nextRun(new Date(after))?.getTime();
}

/** `emit:` of a schedule: `all`, `{ to: all | room | user, room, user, event }`; absent: nothing is sent. */
function compileScheduleEmit(raw: RawSchedule['emit'], ctx: DirectiveContext, at: ManifestPath, dataEvent: string) {
  if (raw === undefined) return undefined;
  const spec: RawEmit = typeof raw === 'string' ? { to: raw } : raw;
  const where = { at: typeof raw === 'string' ? ('value' as const) : ('key' as const) };
  if (spec.to !== 'all' && spec.to !== 'room' && spec.to !== 'user') {
    ctx.sink.error('SCHEDULE', typeof raw === 'string' ? at : [...at, 'to'], `a schedule has no caller: emit to all, a room or a user (not ${spec.to})`);
    return undefined;
  }
  if (spec.except !== undefined) ctx.sink.error('SCHEDULE', [...at, 'except'], 'a schedule has no caller to leave out', { at: 'key' });
  if (spec.room !== undefined && spec.to !== 'room') ctx.sink.error('EMIT', [...at, 'room'], `room is only for to: room (this emit is to: ${spec.to})`, { at: 'key' });
  if (spec.user !== undefined && spec.to !== 'user') ctx.sink.error('EMIT', [...at, 'user'], `user is only for to: user (this emit is to: ${spec.to})`, { at: 'key' });
  const event: Template | undefined = spec.event !== undefined ? compileStringTemplate(spec.event, ctx, [...at, 'event']) : undefined;
  const name = event ?? (() => dataEvent);
  const describe = spec.to + (spec.room ? ` ${spec.room}` : '') + (spec.user ? ` ${spec.user}` : '') + (spec.event ? ` as ${spec.event}` : '');
  let send: (call: Call, res: unknown, envelope: unknown) => void;
  if (spec.to === 'room') {
    if (!spec.room) {
      ctx.sink.error('EMIT', at, 'emit to: room needs a room (e.g. room: "lobby")', where);
      return undefined;
    }
    const room = compileRoomTemplate(spec.room, ctx, [...at, 'room']).render;
    send = (call, res, envelope) => {
      const r = room(call, res);
      if (r !== '') call.io.to(r).emit(name(call, res), envelope);
    };
  } else if (spec.to === 'user') {
    if (spec.user === undefined) {
      ctx.sink.error('SCHEDULE', at, 'emit to: user in a schedule needs user: (the id to reach, e.g. "{{res.user_id}}")', where);
      return undefined;
    }
    const user = compileStringTemplate(spec.user, ctx, [...at, 'user']);
    send = (call, res, envelope) => {
      const id = user(call, res);
      if (id !== '') call.io.to(userRoom(id)).emit(name(call, res), envelope);
    };
  } else {
    send = (call, res, envelope) => void call.io.emit(name(call, res), envelope);
  }
  return { send, describe, event: spec.event !== undefined && !spec.event.includes('{{') ? spec.event : undefined };
}

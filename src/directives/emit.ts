import type { EmitPlan } from '../core/route.js';
import type { EmitTargetName, RawEmit } from '../manifest/types.js';
import type { DirectiveContext } from './context.js';
import { compileRoomTemplate, compileStringTemplate } from './template.js';

/** `emit:` compiles once to a plan: the target, and templates for room, user and event. */
export function compileEmit(raw: EmitTargetName | RawEmit | undefined, ctx: DirectiveContext, at = [...ctx.at, 'emit']): EmitPlan {
  const spec: RawEmit = raw === undefined ? { to: 'self' } : typeof raw === 'string' ? { to: raw } : raw;
  const exceptSelf = spec.except === 'self';
  const plan: EmitPlan = {
    to: spec.to,
    exceptSelf,
    describe: spec.to + (spec.room ? ` ${spec.room}` : '') + (spec.user ? ` ${spec.user}` : '') + (exceptSelf ? ' except self' : '') + (spec.event ? ` as ${spec.event}` : ''),
  };
  if (spec.to === 'room') {
    if (!spec.room) ctx.sink.error('EMIT', at, 'emit to: room needs a room (e.g. room: "room:{{params.room}}")', { at: typeof raw === 'string' ? 'value' : 'key' });
    else {
      const room = compileRoomTemplate(spec.room, ctx, [...at, 'room']);
      plan.room = room.render;
      plan.roomReadsRes = room.readsRes;
    }
  } else if (spec.room !== undefined) {
    ctx.sink.error('EMIT', [...at, 'room'], `room is only for to: room (this emit is to: ${spec.to})`, { at: 'key' });
  }
  if (spec.to === 'user') {
    if (ctx.auth !== 'required') ctx.sink.error('AUTH_REQUIRED', at, 'emit to: user needs auth: required on the route');
    if (spec.user !== undefined) plan.user = compileStringTemplate(spec.user, ctx, [...at, 'user']);
  } else if (spec.user !== undefined) {
    ctx.sink.error('EMIT', [...at, 'user'], `user is only for to: user (this emit is to: ${spec.to})`, { at: 'key' });
  }
  if (exceptSelf && (spec.to === 'self' || spec.to === 'broadcast')) {
    ctx.sink.error('EMIT', [...at, 'except'], `except: self makes no sense with to: ${spec.to}`, { at: 'key' });
  }
  if (spec.event !== undefined) plan.event = compileStringTemplate(spec.event, ctx, [...at, 'event']);
  return Object.freeze(plan);
}

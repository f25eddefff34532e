import type { Call, EmitPlan, Template } from '../core/route.js';
import { userRoom } from '../core/rooms.js';
import type { EmitTargetName, RawEmit } from '../manifest/types.js';
import type { DirectiveContext } from './context.js';
import type { Directive } from './directive.js';
import { compileRoomTemplate, compileStringTemplate } from './template.js';

type Send = EmitPlan['send'];

/**
 * `emit:` compiles once to a plan whose `send` is one closure for its target
 * (socket.io's own operators: `socket.emit`, `socket.broadcast`, `io.to(room)`,
 * `socket.to(room)`), so nothing about the target is decided per message.
 */
export function compileEmit(raw: EmitTargetName | RawEmit | undefined, ctx: DirectiveContext, at = [...ctx.at, 'emit']): EmitPlan {
  const spec: RawEmit = raw === undefined ? { to: 'self' } : typeof raw === 'string' ? { to: raw } : raw;
  const exceptSelf = spec.except === 'self';
  const describe = spec.to + (spec.room ? ` ${spec.room}` : '') + (spec.user ? ` ${spec.user}` : '') + (exceptSelf ? ' except self' : '') + (spec.event ? ` as ${spec.event}` : '');
  let room: ReturnType<typeof compileRoomTemplate> | undefined;
  let user: Template | undefined;
  if (spec.to === 'room') {
    if (!spec.room) ctx.sink.error('EMIT', at, 'emit to: room needs a room (e.g. room: "room:{{params.room}}")', { at: typeof raw === 'string' ? 'value' : 'key' });
    else room = compileRoomTemplate(spec.room, ctx, [...at, 'room']);
  } else if (spec.room !== undefined) {
    ctx.sink.error('EMIT', [...at, 'room'], `room is only for to: room (this emit is to: ${spec.to})`, { at: 'key' });
  }
  if (spec.to === 'user') {
    if (ctx.auth !== 'required') ctx.sink.error('AUTH_REQUIRED', at, 'emit to: user needs auth: required on the route');
    if (spec.user !== undefined) user = compileStringTemplate(spec.user, ctx, [...at, 'user']);
  } else if (spec.user !== undefined) {
    ctx.sink.error('EMIT', [...at, 'user'], `user is only for to: user (this emit is to: ${spec.to})`, { at: 'key' });
  }
  if (exceptSelf && (spec.to === 'self' || spec.to === 'broadcast')) {
    ctx.sink.error('EMIT', [...at, 'except'], `except: self makes no sense with to: ${spec.to}`, { at: 'key' });
  }
  const eventTemplate = spec.event !== undefined ? compileStringTemplate(spec.event, ctx, [...at, 'event']) : undefined;
  const send = sender(spec.to, exceptSelf, room?.render, user, eventTemplate, ctx.event + ctx.settings.socket.data);
  return Object.freeze({ to: spec.to, send, room: room?.render, roomReadsRes: room?.readsRes, renamed: spec.event !== undefined, describe });
}

function sender(to: EmitPlan['to'], exceptSelf: boolean, room: Template | undefined, user: Template | undefined, event: Template | undefined, dataEvent: string): Send {
  const name: (call: Call, res: unknown) => string = event ?? (() => dataEvent);
  switch (to) {
    case 'self':
      return (call, res, envelope) => void call.socket.emit(name(call, res), envelope);
    case 'broadcast':
      return (call, res, envelope) => void call.socket.broadcast.emit(name(call, res), envelope);
    case 'all':
      return exceptSelf ? (call, res, envelope) => void call.socket.broadcast.emit(name(call, res), envelope) : (call, res, envelope) => void call.io.emit(name(call, res), envelope);
    case 'room': {
      if (!room) return () => undefined;
      const at = room;
      return exceptSelf
        ? (call, res, envelope) => {
            const r = at(call, res);
            if (r !== '') call.socket.to(r).emit(name(call, res), envelope);
          }
        : (call, res, envelope) => {
            const r = at(call, res);
            if (r !== '') call.io.to(r).emit(name(call, res), envelope);
          };
    }
    case 'user':
      return (call, res, envelope) => {
        const id = user ? user(call, res) : call.auth?.id;
        if (id === undefined || id === '') return;
        const op = call.io.to(userRoom(id));
        (exceptSelf ? op.except(call.socket.id) : op).emit(name(call, res), envelope);
      };
  }
}

/** `emit:` who receives the route's `_data`. */
export const emitDirective: Directive = {
  keys: ['emit'],
  compile(raw, ctx, draft) {
    draft.emit = compileEmit(raw.emit, ctx);
    if (draft.emit.room && !draft.emit.roomReadsRes) draft.roomChecks.push(draft.emit.room);
  },
};

import type { Call, EmitPlan } from '../core/route.js';
import { userRoom } from '../core/rooms.js';

/** A target a hook names at run time (`ctx.emit`); compiled `emit:` plans have their own closure. */
export interface Target {
  to: EmitPlan['to'];
  exceptSelf: boolean;
  room?: string;
  user?: number | string;
}

/** Sends `payload` on `event` to a target, socket.io's way (`to(room)`, `except(id)`). */
export function deliver(call: Pick<Call, 'socket' | 'io' | 'auth'>, target: Target, event: string, payload: unknown): void {
  const { socket, io } = call;
  switch (target.to) {
    case 'self':
      socket.emit(event, payload);
      return;
    case 'broadcast':
      socket.broadcast.emit(event, payload);
      return;
    case 'all':
      if (target.exceptSelf) socket.broadcast.emit(event, payload);
      else io.emit(event, payload);
      return;
    case 'room':
      if (target.room === undefined || target.room === '') return;
      if (target.exceptSelf) socket.to(target.room).emit(event, payload);
      else io.to(target.room).emit(event, payload);
      return;
    case 'user': {
      const id = target.user ?? call.auth?.id;
      if (id === undefined || id === '') return;
      const op = io.to(userRoom(id));
      (target.exceptSelf ? op.except(socket.id) : op).emit(event, payload);
      return;
    }
  }
}

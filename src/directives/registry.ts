import { actionDirective } from './action.js';
import { authDirective } from './auth.js';
import type { Directive } from './directive.js';
import { emitDirective } from './emit.js';
import { guardDirective } from './guard.js';
import { liveDirective } from './live.js';
import { paramsDirective } from './params.js';
import { rateLimitDirective } from './rate-limit.js';
import { roomsDirective } from './rooms.js';
import { timersDirective } from './timers.js';

/**
 * Every route key's directive, in the order they compile: auth and params
 * first (the others check names against them), the guard, then the action, where its
 * result goes, whether it is live (which reads the action, guard and emit), rooms, timers and limits. `description` is the only key no
 * directive owns (it compiles to nothing).
 */
export const DIRECTIVES: readonly Directive[] = [authDirective, paramsDirective, guardDirective, actionDirective, emitDirective, liveDirective, roomsDirective, timersDirective, rateLimitDirective];

import { parseDuration } from '../core/duration.js';
import type { TimerPlan } from '../core/route.js';
import type { RawTimer } from '../manifest/types.js';
import { compileAction } from './action.js';
import type { DirectiveContext } from './context.js';
import type { Directive } from './directive.js';
import { compileEmit } from './emit.js';

const MIN_INTERVAL_MS = 10;

/** `timers:` compile to plans; the runtime starts them per socket when the route succeeds. */
export function compileTimers(raw: RawTimer[] | undefined, ctx: DirectiveContext): TimerPlan[] {
  if (!raw) return [];
  return raw.map((timer, i) => {
    const at = [...ctx.at, 'timers', i];
    const tctx: DirectiveContext = { ...ctx, at };
    const hasAfter = timer.after !== undefined;
    const hasEvery = timer.every !== undefined;
    if (hasAfter === hasEvery) ctx.sink.error('TIMER', at, 'a timer needs exactly one of after or every');
    const kind = hasEvery ? 'every' : 'after';
    const value = hasEvery ? timer.every : timer.after;
    let ms = parseDuration(value ?? 0);
    if (ms === undefined) {
      ctx.sink.error('DURATION', [...at, kind], `"${String(value)}" is not a duration (use 200ms, 5s, 1m, 2h)`);
      ms = 1000;
    } else if (kind === 'every' && ms < MIN_INTERVAL_MS) {
      ctx.sink.error('DURATION', [...at, kind], `every must be at least ${MIN_INTERVAL_MS}ms`);
      ms = MIN_INTERVAL_MS;
    }
    const { action } = compileAction(timer, tctx);
    return Object.freeze({ kind, ms, action, emit: compileEmit(timer.emit, tctx, [...at, 'emit']) });
  });
}

/** `timers:` the socket's own after/every actions, started when the route succeeds. */
export const timersDirective: Directive = {
  keys: ['timers'],
  compile(raw, ctx, draft) {
    draft.timers = compileTimers(raw.timers, ctx);
  },
};

import type { Call } from '../core/route.js';
import type { HookFunctionRef } from '../manifest/types.js';
import { HookCallContext, type SharedQuery } from './hook-context.js';
import type { DirectiveContext, LoadedHook } from './context.js';

/**
 * `hook:` compiles to a call of the loaded export with a typed context. The
 * module was loaded before compiling (see compile/table.ts), so this is sync.
 */
export function compileHook(spec: string | HookFunctionRef, loaded: LoadedHook | undefined, query: SharedQuery, ctx: DirectiveContext): (call: Call) => unknown {
  const fn = typeof spec === 'string' ? loaded?.fn : spec.fn;
  if (!fn) {
    ctx.sink.error('HOOK', [...ctx.at, 'hook'], loaded?.error ?? `hook ${typeof spec === 'string' ? spec : spec.builtin} was not loaded`);
    return () => {
      throw new Error('hook not loaded');
    };
  }
  const hook = fn as (ctx: unknown, call: Call) => unknown;
  // Built-in hooks also get the raw call (they manage the socket's session).
  return (call) => hook(new HookCallContext(call, query), call);
}

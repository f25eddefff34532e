// The hook of the benchmark's `sum` route (bench/sockey.bench.yaml): params are
// validated by the route's schema before it runs. handwritten.js does the same inline.
import type { HookContext } from 'sockey';

export function sum(ctx: HookContext<{ a: number; b: number }>): { sum: number } {
  return { sum: ctx.params.a + ctx.params.b };
}

import type { Call } from '../core/route.js';
import type { RawGuard } from '../manifest/types.js';
import type { Directive } from './directive.js';
import { compileHook } from './hook.js';
import { compileSql } from './sql.js';

/**
 * `guard:` a condition checked after the params and before anything else:
 * SQL passes when it returns at least one row, a hook when it returns true.
 * A named guard (resolved in compile/entries.ts) is compiled for each route
 * that uses it, against that route's params; its problems point at its own
 * place under `guards:`.
 */
export const guardDirective: Directive = {
  keys: ['guard'],
  compile(raw, ctx, draft) {
    const g = raw.guard as RawGuard | undefined;
    if (!g) return;
    const at = g.from !== undefined ? ['guards', g.from] : [...ctx.at, 'guard'];
    draft.guardSummary = g.from ?? (g.hook !== undefined ? `hook ${g.hook}` : 'sql');
    if (g.sql !== undefined) {
      const sql = compileSql(g.sql, { result: 'rows' }, { ...ctx, at }, at);
      draft.statements.push(...sql.statements);
      draft.guardRead = sql.single;
      draft.guard = (call) => {
        const rows = sql.run(call);
        return rows instanceof Promise ? rows.then(passes) : passes(rows);
      };
    } else if (g.hook !== undefined) {
      const hook = compileHook(g.hook, ctx.hooks.get(g.hook), ctx.query, { ...ctx, at: g.from !== undefined ? at : ctx.at });
      draft.guard = (call: Call) => {
        const r = hook(call);
        return r instanceof Promise ? r.then((v) => v === true) : r === true;
      };
    }
  },
};

const passes = (rows: unknown) => Array.isArray(rows) && rows.length > 0;

import type { Action } from '../core/route.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { RawAction } from '../manifest/types.js';
import type { DirectiveContext } from './context.js';
import type { Directive } from './directive.js';
import { compileHook } from './hook.js';
import { compileSql, type BoundStatement } from './sql.js';
import { compileReply, compileRoomTemplate } from './template.js';
import { presenceList } from '../core/presence.js';

export interface CompiledAction {
  action: Action;
  kind: string;
  statements: Array<{ text: string; path: ManifestPath }>;
  /** The sql when it is one statement. */
  single?: BoundStatement;
}

/**
 * A route's (or a timer's) action: `sql` or `hook`, optionally shaped by a
 * `reply` template over its result, or a `reply` alone.
 */
export function compileAction(raw: RawAction & { presence?: string }, ctx: DirectiveContext): CompiledAction {
  const has = { sql: raw.sql !== undefined, hook: raw.hook !== undefined, reply: raw.reply !== undefined, presence: raw.presence !== undefined };
  if (has.presence && (has.sql || has.hook)) {
    ctx.sink.error('ACTION', [...ctx.at, 'presence'], `a route has one action: presence (the room's members) is one, so it takes no ${has.sql ? 'sql' : 'hook'}`, { at: 'key' });
  } else if (has.sql && has.hook) {
    ctx.sink.error('ACTION', [...ctx.at, 'hook'], 'a route has one action: sql or hook, not both', { at: 'key' });
  } else if (!has.sql && !has.hook && !has.reply && !has.presence) {
    ctx.sink.error('ACTION', ctx.at, 'no action: give sql, hook or reply', { at: 'key' });
  }
  if (raw.expect !== undefined && !has.sql) ctx.sink.error('GUARD', [...ctx.at, 'expect'], 'expect checks what sql answers; this has no sql', { at: 'key' });
  if (raw.result !== undefined && !has.sql) ctx.sink.error('ACTION', [...ctx.at, 'result'], 'result shapes sql results; this has no sql', { at: 'key' });
  if (raw.json !== undefined && !has.sql) ctx.sink.error('ACTION', [...ctx.at, 'json'], 'json parses columns of sql results; this has no sql', { at: 'key' });

  let base: Action | undefined;
  let kind = 'reply';
  let statements: CompiledAction['statements'] = [];
  let single: BoundStatement | undefined;
  if (has.sql) {
    const sql = compileSql(raw.sql!, { result: raw.result, expect: raw.expect, json: raw.json }, ctx);
    base = sql.run;
    statements = sql.statements;
    single = sql.single;
    ctx.stepNames = sql.stepNames;
    kind = Array.isArray(raw.sql) ? `sql (${raw.sql.length} statements, one transaction)` : 'sql';
  } else if (has.presence) {
    // The members of a room the manifest lets this route see: guard it as the route that joins it.
    const room = compileRoomTemplate(raw.presence!, ctx, [...ctx.at, 'presence']);
    base = (call) => presenceList(call.io, call.log, room.render(call));
    kind = `presence ${raw.presence}`;
  } else if (has.hook) {
    const spec = raw.hook!;
    base = compileHook(spec, typeof spec === 'string' ? ctx.hooks.get(spec) : undefined, ctx.query, ctx);
    kind = typeof spec === 'string' ? `hook ${spec}` : `hook (built-in ${spec.builtin})`;
  }
  if (!has.reply) return { action: base ?? (() => null), kind, statements, single };

  const reply = compileReply(raw.reply, ctx, [...ctx.at, 'reply']);
  if (!base) return { action: (call) => reply(call, undefined), kind, statements };
  const first = base;
  return {
    action: (call) => {
      const r = first(call);
      return r instanceof Promise ? r.then((res) => reply(call, res)) : reply(call, r);
    },
    kind: `${kind} + reply`,
    statements,
    single,
  };
}

/** `sql` | `hook` | `reply` (+ `result`, `expect`, `json`): the route's action. */
export const actionDirective: Directive = {
  keys: ['sql', 'hook', 'reply', 'result', 'expect', 'json', 'presence'],
  compile(raw, ctx, draft) {
    const { action, kind, statements, single } = compileAction(raw, ctx);
    draft.read = single;
    draft.action = action;
    draft.kind = kind;
    draft.statements = statements;
  },
};

import { parseDuration } from '../core/duration.js';
import type { Call, LiveKey } from '../core/route.js';
import { keyOf } from '../db/tracking.js';
import { tableName } from '../db/sql-tables.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { RawLive } from '../manifest/types.js';
import type { Directive } from './directive.js';
import type { BoundStatement } from './sql.js';
import { replyReadsAuth } from './template.js';

/** Fastest `poll:`: a poll is a fallback, not the way live queries work. */
const MIN_POLL_MS = 100;

/**
 * `live: true | { key, poll, diff, tables }`: the route's one SQL read is
 * analysed here, once, into the tables a write must touch to re-run it and the
 * key filters (`column = :param`) that narrow which subscriptions a write
 * concerns. A hook, a write or a statement list cannot be live: sockey could
 * not tell what their result depends on.
 */
export const liveDirective: Directive = {
  keys: ['live'],
  compile(raw, ctx, draft) {
    if (raw.live === undefined || raw.live === false) return;
    const at: ManifestPath = [...ctx.at, 'live'];
    const options: RawLive = raw.live === true ? {} : raw.live;
    const read = draft.read;
    if (raw.sql === undefined || !read) {
      const why =
        raw.hook !== undefined
          ? 'a hook cannot be live: sockey cannot tell what its result depends on (give the route a sql read)'
          : Array.isArray(raw.sql)
            ? 'a statement list cannot be live: give the route one SELECT'
            : 'live needs a sql read (one SELECT) to re-run when its tables change';
      ctx.sink.error('LIVE', at, why, { at: 'key' });
      return;
    }
    if (draft.emit.to !== 'self') ctx.sink.error('LIVE', at, `a live route answers its caller: its updates go to each subscriber, so it takes no emit to: ${draft.emit.to}`, { at: 'key' });
    const tables = ctx.sqlTables;
    if (!tables) return;
    const plan = tables.analyze(read.text);
    if (plan.kind === 'write') {
      ctx.sink.error('LIVE', at, 'this sql writes: a live route re-runs a read when what it reads changes, so it must be a SELECT', { at: 'key' });
      return;
    }
    type Keyed = { tables: readonly string[]; keys: Array<LiveKey & { param: string }> };
    let query: Keyed;
    if (options.tables?.length) {
      query = { tables: options.tables.map(tableName), keys: plan.kind === 'read' ? keysOf(plan.read.keys, read) : [] };
    } else if (plan.kind === 'read' && plan.read.tables.length) {
      query = { tables: plan.read.tables, keys: keysOf(plan.read.keys, read) };
    } else {
      ctx.sink.error('LIVE', at, 'sockey cannot tell which tables this read uses; name them with live: { tables: [...] }', { at: 'key' });
      return;
    }
    if (options.key !== undefined && !query.keys.some((k) => k.param === options.key)) {
      ctx.sink.error('LIVE', [...at, 'key'], `the read is not keyed by :${options.key}: no "column = :${options.key}" among the AND-ed conditions of its WHERE`);
    }
    let pollMs: number | undefined;
    if (options.poll !== undefined) {
      pollMs = parseDuration(options.poll);
      if (pollMs === undefined) ctx.sink.error('DURATION', [...at, 'poll'], `"${String(options.poll)}" is not a duration (use 200ms, 5s, 1m, 2h)`);
      else if (pollMs < MIN_POLL_MS) ctx.sink.error('DURATION', [...at, 'poll'], `poll must be at least ${MIN_POLL_MS}ms`);
    }
    if (options.diff !== undefined && raw.reply !== undefined) ctx.sink.error('LIVE', [...at, 'diff'], 'diff pushes changed rows: the route must answer rows, so it takes no reply template');
    if (options.diff !== undefined && raw.result !== undefined && raw.result !== 'rows')
      ctx.sink.error('LIVE', [...at, 'diff'], `diff pushes changed rows: the route must answer rows (its result is ${raw.result})`);

    // A guard that cannot be read (a hook) is checked again whenever the query re-runs.
    const guardPlan = draft.guardRead ? tables.analyze(draft.guardRead.text) : undefined;
    const guard: Keyed | undefined = guardPlan?.kind === 'read' ? { tables: guardPlan.read.tables, keys: keysOf(guardPlan.read.keys, draft.guardRead!) } : undefined;
    const byUser = read.names.some((n) => n.startsWith('auth.')) || (raw.reply !== undefined && replyReadsAuth(raw.reply));
    const strip = (k: LiveKey & { param: string }): LiveKey => ({ table: k.table, column: k.column, value: k.value });
    draft.live = Object.freeze({
      query: { tables: query.tables, keys: query.keys.map(strip) },
      guard: guard && { tables: guard.tables, keys: guard.keys.map(strip) },
      guardEachRun: Boolean(draft.guard) && !guard,
      byUser,
      pollMs,
      diff: options.diff,
      describe: `live on ${query.tables.join(', ')}${query.keys.length ? ` by ${query.keys.map((k) => `${k.table}.${k.column}`).join(', ')}` : ''}${pollMs ? `, poll ${pollMs}ms` : ''}${options.diff ? `, diff by ${options.diff}` : ''}`,
    });
  },
};

/** Key filters with the value a call binds there: a param, the user, or a literal of the SQL. */
function keysOf(keys: ReadonlyArray<{ table: string; column: string; bound: { index: number } | { value: string } }>, statement: BoundStatement): Array<LiveKey & { param: string }> {
  return keys.map(({ table, column, bound }) => {
    if (!('index' in bound)) {
      const literal = keyOf(bound.value);
      return { table, column, param: '', value: () => literal };
    }
    const i = bound.index;
    const param = statement.names[i] ?? '';
    return { table, column, param, value: (call: Pick<Call, 'params' | 'auth'>) => keyOf(statement.values(call as Call)[i]) };
  });
}

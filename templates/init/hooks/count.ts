import type { HookContext } from 'sockey';

/** Answers { notes: N }. */
export async function count(ctx: HookContext) {
  const rows = await ctx.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM notes');
  return { notes: rows[0]?.n ?? 0 };
}

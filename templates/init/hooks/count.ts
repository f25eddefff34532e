import type { HookContext } from 'sockey';

/** Answers { notes: N }. */
export async function count(ctx: HookContext) {
  const rows = (await ctx.db.query('SELECT COUNT(*) AS n FROM notes')) as Array<{ n: number }>;
  return { notes: rows[0]?.n ?? 0 };
}

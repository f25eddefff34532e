import type { HookContext } from 'sockey';

/** Message counts per room: `{ rooms: [{ room, messages }], total }`. */
export async function stats(ctx: HookContext) {
  const rooms = (await ctx.db.query('SELECT room, COUNT(*) AS messages FROM messages GROUP BY room ORDER BY room')) as Array<{ room: string; messages: number }>;
  return { rooms, total: rooms.reduce((n, r) => n + r.messages, 0) };
}

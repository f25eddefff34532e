import type { HookContext } from 'sockey';

/** Message counts per room: `{ rooms: [{ room, messages }], total }`. */
export async function stats(ctx: HookContext) {
  const rooms = await ctx.db.query<{ room: string; messages: number }>('SELECT room, COUNT(*) AS messages FROM messages GROUP BY room ORDER BY room');
  return { rooms, total: rooms.reduce((n, r) => n + r.messages, 0) };
}

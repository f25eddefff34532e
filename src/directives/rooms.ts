import type { RawJoin } from '../manifest/types.js';
import type { Directive } from './directive.js';
import { compileRoomTemplate } from './template.js';

/**
 * `join:` / `leave:`: room templates (a string or a list) the caller joins or
 * leaves once the action succeeded; a `join` entry may be `{ room, presence }`.
 * Every rendered name is checked against sockey's own rooms; those not
 * reading `res` before the action.
 */
export const roomsDirective: Directive = {
  keys: ['join', 'leave'],
  compile(raw, ctx, draft) {
    for (const key of ['join', 'leave'] as const) {
      const v = raw[key];
      if (v === undefined) continue;
      const list: RawJoin[] = Array.isArray(v) ? v : [v];
      list.forEach((entry, i) => {
        const at = Array.isArray(v) ? [...ctx.at, key, i] : [...ctx.at, key];
        const text = typeof entry === 'string' ? entry : entry.room;
        const presence = typeof entry === 'object' && entry.presence === true;
        const room = compileRoomTemplate(text, ctx, typeof entry === 'string' ? at : [...at, 'room']);
        draft[key].push(room.render);
        if (key === 'join') {
          draft.joinPresence.push(presence);
          if (presence) {
            (draft.presenceSummary ??= []).push(text);
            if (ctx.auth === 'none') {
              ctx.sink.warn('AUTH_REQUIRED', [...at, 'presence'], 'presence counts signed-in sockets only, and this route has no auth: give it auth: required (or optional)');
            }
          }
        }
        if (!room.readsRes) draft.roomChecks.push(room.render);
      });
    }
  },
};

import type { Directive } from './directive.js';
import { compileRoomTemplate } from './template.js';

/**
 * `join:` / `leave:`: room templates (a string or a list) the caller joins or
 * leaves once the action succeeded. Every rendered name is checked against
 * sockey's own rooms; those not reading `res` before the action.
 */
export const roomsDirective: Directive = {
  keys: ['join', 'leave'],
  compile(raw, ctx, draft) {
    for (const key of ['join', 'leave'] as const) {
      const v = raw[key];
      if (v === undefined) continue;
      const list = Array.isArray(v) ? v : [v];
      list.forEach((text, i) => {
        const room = compileRoomTemplate(text, ctx, Array.isArray(v) ? [...ctx.at, key, i] : [...ctx.at, key]);
        draft[key].push(room.render);
        if (!room.readsRes) draft.roomChecks.push(room.render);
      });
    }
  },
};

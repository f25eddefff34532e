import type { Directive } from './directive.js';

/** `auth: none | optional | required`: what the other directives may read of the user (`:auth.id`, `to: user`). */
export const authDirective: Directive = {
  keys: ['auth'],
  compile(raw, ctx, draft) {
    ctx.auth = raw.auth ?? 'none';
    draft.auth = ctx.auth;
  },
};

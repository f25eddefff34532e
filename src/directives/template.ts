import type { ManifestPath } from '../manifest/diagnostics.js';
import { compileTemplate, compileValueTemplate, type TemplateView } from './template-engine.js';
import type { Call, Template } from '../core/route.js';
import { closest } from '../manifest/suggest.js';
import { checkAppRoom, RESERVED_ROOM_PREFIX } from '../core/rooms.js';
import { SCHEDULE_ROOTS, TEMPLATE_ROOTS, type DirectiveContext } from './context.js';

/**
 * The view templates render over: one object per message, made by the first
 * template that renders (after the params are validated), `res` updated as
 * the action's result is known. A timer's later ticks reuse its call's view.
 */
export function viewOf(call: Call, res?: unknown): TemplateView {
  const view = call.view;
  if (view === undefined) return (call.view = { params: call.params, auth: call.auth, res, event: call.event });
  view.res = res;
  return view;
}

/** Checks the names a template reads: auth.* needs auth, params.* must be declared. */
export function checkTemplateNames(names: readonly string[], ctx: DirectiveContext, path: ManifestPath): void {
  for (const name of names) {
    const [root, first] = name.split('.');
    if (root === 'auth' && ctx.auth === 'none') {
      const why = ctx.schedule ? ': a schedule runs with no user' : ' needs auth: required or optional on the route';
      ctx.sink.error('AUTH_REQUIRED', path, `"{{${name}}}"${why}`, { offset: ctx.sink.offsetOf(path, name) });
    } else if (ctx.schedule && (SCHEDULE_ROOTS as readonly string[]).includes(root!)) {
      // {{tick}} and {{now}}: a schedule's own.
    } else if (root === 'params' && first && ctx.paramsClosed && ctx.paramNames && !ctx.paramNames.has(first)) {
      // Only a closed schema (additionalProperties: false) makes an undeclared name a mistake; an open one accepts any.
      const hint = closest(first, [...ctx.paramNames]);
      const declared = ctx.paramNames.size ? ` (declared: ${[...ctx.paramNames].join(', ')})` : ' (the route declares no params)';
      ctx.sink.error('SQL_PARAM', path, `"{{${name}}}": "${first}" is not a declared param${hint ? `; did you mean "{{params.${hint}}}"?` : declared}`, { offset: ctx.sink.offsetOf(path, name) });
    } else if (root === 'steps' && !(first !== undefined && ctx.stepNames?.includes(first))) {
      const named = ctx.stepNames?.length ? ` (named: ${ctx.stepNames.join(', ')})` : '; name a step of a sql list with as:';
      ctx.sink.error('STEP', path, `"{{${name}}}": no step is named "${first ?? ''}"${named}`, { offset: ctx.sink.offsetOf(path, name) });
    } else if (!(TEMPLATE_ROOTS as readonly string[]).includes(root!) && root !== '.') {
      ctx.sink.warn('TEMPLATE', path, `"{{${name}}}" reads "${root}", which is not one of ${TEMPLATE_ROOTS.join(', ')}`, { offset: ctx.sink.offsetOf(path, name) });
    }
  }
}

/** A string template (event and room names), parsed once. */
export function compileStringTemplate(text: string, ctx: DirectiveContext, path: ManifestPath): Template {
  return parseStringTemplate(text, ctx, path).render;
}

/** The render function and the names it reads; a template that does not parse is reported and renders as written. */
function parseStringTemplate(text: string, ctx: DirectiveContext, path: ManifestPath): { render: Template; names: readonly string[] } {
  try {
    const t = compileTemplate(text);
    checkTemplateNames(t.names, ctx, path);
    if (t.constant) return { render: () => text, names: t.names };
    return { render: (call, res) => t.render(viewOf(call, res)), names: t.names };
  } catch (e) {
    ctx.sink.error('TEMPLATE', path, `template does not parse: ${(e as Error).message}`);
    return { render: () => text, names: [] };
  }
}

/** A room template (join, leave, emit room): also says whether it reads `res` or `steps`, the action's results. */
export interface RoomTemplate {
  render: Template;
  readsRes: boolean;
}

/**
 * A room name template. Every rendered name is checked (checkAppRoom), so
 * no payload reaches sockey's own rooms; a constant one is checked here.
 */
export function compileRoomTemplate(text: string, ctx: DirectiveContext, path: ManifestPath): RoomTemplate {
  const { render, names } = parseStringTemplate(text, ctx, path);
  if (text.startsWith(RESERVED_ROOM_PREFIX)) {
    ctx.sink.error('ROOM', path, `rooms starting with "${RESERVED_ROOM_PREFIX}" are sockey's own (use emit: { to: user } to reach a user's sockets)`);
  }
  return { render: (call, res) => checkAppRoom(render(call, res), call.io), readsRes: names.some(readsResult) };
}

/** A reply template object. */
export function compileReply(value: unknown, ctx: DirectiveContext, path: ManifestPath): (call: Call, res: unknown) => unknown {
  const compiled = compileValueTemplate(value, (p, e) => ctx.sink.error('TEMPLATE', [...path, ...p], `template does not parse: ${e.message}`));
  checkTemplateNames(compiled.names, ctx, path);
  if (compiled.constant) {
    const constant = compiled.render({});
    return () => constant;
  }
  return (call, res) => compiled.render(viewOf(call, res));
}

/** Whether a reply template reads the signed-in user (`{{auth.name}}`): then its result depends on who asks. */
export function replyReadsAuth(value: unknown): boolean {
  return compileValueTemplate(value, () => undefined).names.some((n) => n === 'auth' || n.startsWith('auth.'));
}

/** A name known only after the action: its result, or a named step's. */
const readsResult = (n: string) => n === 'res' || n.startsWith('res.') || n === 'steps' || n.startsWith('steps.');

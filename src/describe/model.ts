import type { CompileResult, RouteTable } from '../compile/table.js';
import type { AuthMode } from '../core/route.js';
import { PRESENCE_JOIN, PRESENCE_LEAVE } from '../core/presence.js';
import type { ManifestSource } from '../manifest/load.js';
import type { EmitTargetName, RawEmit, RawManifest, RawRoute, RawSchedule } from '../manifest/types.js';
import { LIVE_EVENT } from '../live/plugin.js';
import { statementReader } from './columns.js';
import { authPushShape, authReplyShape, authRequestShape, diffShape, presenceEventShape, unsubscribedShape } from './known.js';
import { actionResult, type ResultContext } from './results.js';
import { itemsOf, literal, named, numberShape, objectOf, stringShape, unionOf, type Shape } from './shape.js';

/** An event name: a literal, or a template (`emit.event: "{{params.kind}}.changed"`) whose holes are filled per message. */
export interface EventName {
  text: string;
  /** Literal pieces and holes (the tag's name), when the name is a template. */
  parts?: Array<string | { hole: string }>;
}

/** An event a client emits: a route, or a built-in (auth, live). */
export interface ApiCall {
  event: string;
  description?: string;
  auth: AuthMode;
  builtin?: 'auth' | 'live';
  /** The params JSON Schema, as the route declares it (built-ins: as generated). */
  paramsSchema: unknown;
  /** The payload, when sockey says it better than the schema (the built-ins). */
  payload?: Shape;
  /** `res` of the reply (the ack, and `<event>_data`). */
  result: Shape;
  live: boolean;
  /** The route's guard is a hook (which may throw codes of its own). */
  guardHook?: boolean;
  /** Where the success envelope goes: the emit target, and the event when it is renamed. */
  emit: { to: EmitTargetName; event?: EventName };
  dataEvent: string;
  errorEvent: string;
}

/** An event the server sends. */
export interface ApiPush {
  name: EventName;
  kind: 'data' | 'error';
  /** `res` of the data envelopes, every sender's (a union). */
  res: Shape;
  /** Live routes whose LIVE_ENDED arrives here. */
  liveEnded: string[];
  /** Who sends it, in words (`the reply of echo`, `a timer of example`). */
  from: string[];
  /** Live routes whose pushes arrive here (a push also carries the subscription's `params`). */
  livePushes?: string[];
}

export interface ApiModel {
  file: string;
  version: string;
  settings: RouteTable['settings'];
  calls: ApiCall[];
  pushes: ApiPush[];
  /** The built-in auth, when on: its event (the handshake and per-message credentials sign routes in). */
  auth?: { event: string };
}

/** The manifest as its clients see it: what they send, what they receive, and the shapes sockey knows of both. */
export function describeApp(result: Required<Pick<CompileResult, 'table'>> & { source?: ManifestSource }): ApiModel {
  const { table, source } = result;
  const settings = table.settings;
  const raw = (source?.data ?? {}) as RawManifest;
  const { data } = settings.socket;
  const reader = statementReader(settings.database.driver);
  const context = (at: ResultContext['at'], params: Shape, paramsSchema: unknown, auth: boolean, schedule = false): ResultContext => ({
    at,
    params,
    paramsSchema,
    auth,
    schedule,
    dialect: settings.database.driver,
    reader,
    included: source?.included ?? new Map(),
  });

  const pushes = new Map<string, ApiPush>();
  const push = (name: EventName, kind: ApiPush['kind'], from: string, res: Shape = { kind: 'never' }, liveEnded?: string) => {
    const key = `${kind}\0${name.text}`;
    const p = pushes.get(key) ?? { name, kind, res: { kind: 'never' }, liveEnded: [], from: [] };
    pushes.set(key, p);
    p.res = unionOf(p.res, res);
    if (!p.from.includes(from)) p.from.push(from);
    if (liveEnded !== undefined) p.liveEnded.push(liveEnded);
  };

  const calls: ApiCall[] = [];
  const liveEvents: string[] = [];
  let presence = false;
  for (const route of table.routes.values()) {
    const s = route.summary;
    const base = { event: s.event, description: s.description, auth: s.auth, paramsSchema: s.paramsSchema, dataEvent: route.dataEvent, errorEvent: route.errorEvent };
    if (s.builtin && s.event === settings.auth.event && settings.auth.enabled) {
      calls.push({ ...base, builtin: 'auth', payload: authRequestShape(settings.auth), result: authReplyShape, live: false, emit: { to: 'self' } });
      push({ text: route.dataEvent }, 'data', `the replies of ${s.event}, and renewed tokens`, authPushShape);
      push({ text: route.errorEvent }, 'error', `${s.event} failures without an ack, and a refused handshake token`);
      continue;
    }
    if (s.builtin && s.event === LIVE_EVENT) continue; // after the routes: its payload names them
    const r = raw.routes?.[s.event] ?? ({} as RawRoute);
    const params: Shape = { kind: 'params', event: s.event };
    const result = actionResult(r, context(['routes', s.event], params, s.paramsSchema, s.auth !== 'none'));
    const emit = emitOf(r.emit);
    calls.push({ ...base, result, live: route.live !== undefined, guardHook: s.guard?.startsWith('hook') ?? false, emit });
    push(emit.event ?? { text: route.dataEvent }, 'data', `the reply of ${s.event}${emit.to === 'self' ? '' : ` (to ${route.emit.describe})`}`, { kind: 'result', event: s.event });
    push({ text: route.errorEvent }, 'error', `${s.event} failures without an ack`, undefined, route.live ? s.event : undefined);
    if (route.live) {
      liveEvents.push(s.event);
      const pushed = r.live && typeof r.live === 'object' && r.live.diff !== undefined ? diffShape(itemsOf(result)) : ({ kind: 'result', event: s.event } as Shape);
      push({ text: route.dataEvent }, 'data', `the live pushes of ${s.event}`, pushed);
      const p = pushes.get(`data\0${route.dataEvent}`);
      if (p) (p.livePushes ??= []).push(s.event);
    }
    (r.timers ?? []).forEach((t, i) => {
      const shape = actionResult(t, context(['routes', s.event, 'timers', i], params, s.paramsSchema, s.auth !== 'none'));
      const e = emitOf(t.emit);
      push(e.event ?? { text: route.dataEvent }, 'data', `a timer of ${s.event} (to ${e.to})`, shape);
    });
    if (s.presence?.length) presence = true;
  }

  const live = table.routes.get(LIVE_EVENT);
  if (live?.builtin && liveEvents.length) {
    const payload = named(
      'SockeyLiveUnsubscribe',
      unionOf(
        ...liveEvents.map((event) =>
          objectOf([
            { name: 'type', shape: literal('unsubscribe') },
            { name: 'event', shape: literal(event) },
            { name: 'params', shape: { kind: 'params', event }, optional: true, description: 'The params the subscription was made with.' },
          ]),
        ),
      ),
      'Stops one live subscription of this socket.',
    );
    calls.push({
      event: LIVE_EVENT,
      description: live.summary.description,
      auth: live.auth,
      builtin: 'live',
      paramsSchema: live.summary.paramsSchema,
      payload,
      result: unsubscribedShape,
      live: false,
      emit: { to: 'self' },
      dataEvent: live.dataEvent,
      errorEvent: live.errorEvent,
    });
    push({ text: live.dataEvent }, 'data', `the replies of ${LIVE_EVENT}`, unsubscribedShape);
    push({ text: live.errorEvent }, 'error', `${LIVE_EVENT} failures without an ack`);
  }

  for (const [name, schedule] of Object.entries(raw.schedules ?? {}) as Array<[string, RawSchedule]>) {
    if (schedule.emit === undefined || !table.schedules.has(name)) continue;
    const params = objectOf({ tick: numberShape, now: stringShape });
    const shape = actionResult(schedule, context(['schedules', name], params, undefined, false, true));
    const e = emitOf(schedule.emit);
    push(e.event ?? { text: name + data }, 'data', `the schedule ${name} (to ${e.to})`, shape);
  }

  if (presence) {
    push({ text: PRESENCE_JOIN }, 'data', 'a presence room, when a user joins it', presenceEventShape);
    push({ text: PRESENCE_LEAVE }, 'data', 'a presence room, when a user leaves it', presenceEventShape);
  }
  return {
    file: source?.file ?? 'sockey.yaml',
    version: table.version,
    settings,
    calls,
    pushes: [...pushes.values()],
    auth: settings.auth.enabled ? { event: settings.auth.event } : undefined,
  };
}

function emitOf(raw: EmitTargetName | RawEmit | undefined): ApiCall['emit'] {
  const spec: RawEmit = raw === undefined ? { to: 'self' } : typeof raw === 'string' ? { to: raw } : raw;
  return { to: spec.to, event: spec.event === undefined ? undefined : eventName(spec.event) };
}

const TAG = /\{\{\{?\s*([^}]*?)\s*\}?\}\}/g;

/** An `emit.event` as a literal or a template's pieces. */
export function eventName(text: string): EventName {
  if (!text.includes('{{')) return { text };
  const parts: EventName['parts'] = [];
  let last = 0;
  for (const m of text.matchAll(TAG)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push({ hole: m[1]!.replace(/^[#^/&]\s*/, '') });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return { text, parts };
}

// The sockey playground: built from the live manifest (/_sockey/routes.json), kept
// current by the `routes` event on the /_sockey namespace after every hot reload
// (and fetched again when a schedule's shown next tick has passed). Live queries:
// /_sockey/state.json, fetched again on each `live` notice on that namespace.
import { AuthPanel } from './auth.js';
import { byTestId } from './dom.js';
import { Editor } from './editor.js';
import { RouteList } from './routes-view.js';
import { LiveView } from './live-view.js';
import { ScheduleList } from './schedules-view.js';
import { Timeline } from './timeline.js';
import { isEnvelope, type LiveNotice, type PlaygroundInfo, type RouteSummary } from './types.js';

const ACK_TIMEOUT_MS = 10_000;
/** Bounds on how soon the schedules' ticks are fetched again (a shown next tick has passed; a far one, or another node's). */
const TICKS_REFRESH_MS = { min: 1000, max: 30_000, after: 250 };

let info: PlaygroundInfo = { routes: [], schedules: [], socket: { data: '_data', error: '_error' }, auth: { enabled: true, event: 'auth', registerEmail: true } };
let loaded = false;
let ticksTimer: ReturnType<typeof setTimeout> | undefined;
/** Counts the tables shown, so that an answer fetched for the ticks does not undo a reload that came meanwhile. */
let applied = 0;

const timeline = new Timeline(byTestId('timeline'), byTestId('timeline-count'));
const status = byTestId('status');

/** Passwords never reach the timeline. */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, /password/i.test(k) && typeof v === 'string' ? '•'.repeat(Math.min(v.length, 8)) : redact(v)]));
}

/** Emits `event`, logging the envelope sent and (with an ack) the one that came back. */
function send(event: string, payload: unknown, withAck: boolean): Promise<unknown> {
  timeline.add({ dir: 'out', event, body: redact(payload), tag: withAck ? 'with ack' : 'no ack' });
  live.sent(event, payload, withAck);
  if (!withAck) {
    socket.emit(event, payload);
    return Promise.resolve(undefined);
  }
  const started = performance.now();
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err: Error | null, envelope: unknown) => {
      const ms = `${Math.round(performance.now() - started)} ms`;
      if (err) {
        timeline.add({ dir: 'ack', event, body: { error: `no ack within ${ACK_TIMEOUT_MS / 1000} s` }, tag: 'timeout', status: 'error' });
        resolve(undefined);
        return;
      }
      const code = isEnvelope(envelope) && !envelope.ok ? `${envelope.code} · ` : '';
      timeline.add({ dir: 'ack', event, body: envelope, tag: code + ms });
      if (event === info.auth.event) auth.observe(event, payload, envelope);
      live.acked(event, payload, envelope);
      resolve(envelope);
    });
  });
}

const auth = new AuthPanel(send);
const editor = new Editor(send);
const routeList = new RouteList(byTestId('routes'), select);
const scheduleList = new ScheduleList(byTestId('schedules-section'), byTestId('schedules'), byTestId('schedule-count'));
const live = new LiveView(byTestId('live-section'), byTestId('live-count'), byTestId('live-mine'), byTestId('live-ended-list'), byTestId('live-stats'), byTestId('live-server'), send);

// One connection (socket.io multiplexes both namespaces over it).
const socket = io('/', { auth: (cb) => cb(auth.handshake()) });
const control = io('/_sockey');

function select(event: string): void {
  editor.show(
    info.routes.find((r) => r.event === event),
    event,
  );
  routeList.render(info.routes, event);
  history.replaceState(null, '', `#${encodeURIComponent(event)}`);
}

/** What a reload changed in a list, by key. */
function diff<T>(before: T[], after: T[], key: (x: T) => string, same: (a: T, b: T) => boolean) {
  const old = new Map(before.map((x) => [key(x), x]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const x of after) {
    const was = old.get(key(x));
    if (was === undefined) added.push(key(x));
    else if (!same(was, x)) changed.push(key(x));
    old.delete(key(x));
  }
  return { added, removed: [...old.keys()], changed };
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Shows a route table and its schedules: the first one, or a reload's (with what changed in the timeline). */
function apply(next: PlaygroundInfo, why: 'load' | 'reload'): void {
  const { added, removed, changed } = diff(info.routes, next.routes, (r) => r.event, sameJson);
  // A schedule's ticks change all the time; its definition is what a reload changes.
  const schedules = diff(
    info.schedules,
    next.schedules,
    (s) => s.name,
    (a, b) => sameJson({ ...a, next: 0, last: 0 }, { ...b, next: 0, last: 0 }),
  );
  info = next;
  applied++;
  timeline.setErrorSuffix(next.socket.error);
  auth.configure(next.auth);
  byTestId('route-count').textContent = String(next.routes.length);
  live.configure(next);
  scheduleList.render(next.schedules, why === 'reload' ? new Set([...schedules.added, ...schedules.changed]) : undefined);
  followTicks();
  const n = schedules.added.length + schedules.removed.length + schedules.changed.length;
  if (why === 'reload' && n) {
    timeline.add({ dir: 'sys', event: 'schedules reloaded', body: schedules, status: 'info', tag: `+${schedules.added.length} -${schedules.removed.length} ~${schedules.changed.length}` });
  }

  let selected = editor.selected;
  if (!loaded) {
    loaded = true;
    const fromHash = decodeURIComponent(location.hash.slice(1));
    const first = next.routes.find((r) => r.event === fromHash) ?? next.routes.find((r) => !r.builtin) ?? next.routes[0];
    if (first) {
      select(first.event);
      return;
    }
  }
  if (why === 'reload' && (added.length || removed.length || changed.length)) {
    timeline.add({ dir: 'sys', event: 'routes reloaded', body: { added, removed, changed }, status: 'info', tag: `+${added.length} -${removed.length} ~${changed.length}` });
  }
  const current = selected ? next.routes.find((r: RouteSummary) => r.event === selected) : undefined;
  if (selected) editor.update(current);
  if (selected && !current) selected = undefined;
  routeList.render(next.routes, selected, why === 'reload' ? new Set([...added, ...changed]) : undefined);
}

async function getInfo(): Promise<PlaygroundInfo> {
  const res = await fetch('/_sockey/routes.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as PlaygroundInfo;
}

async function fetchRoutes(why: 'load' | 'reload'): Promise<void> {
  try {
    apply(await getInfo(), why);
  } catch (e) {
    timeline.add({ dir: 'sys', event: 'routes.json', body: { error: (e as Error).message }, status: 'error', tag: 'failed' });
  }
}

/** The schedules' latest and next ticks go stale: they are fetched again soon after the soonest next one. */
function followTicks(): void {
  clearTimeout(ticksTimer);
  const soonest = scheduleList.soonest;
  if (soonest === undefined) return;
  const wait = Math.min(Math.max(soonest - Date.now() + TICKS_REFRESH_MS.after, TICKS_REFRESH_MS.min), TICKS_REFRESH_MS.max);
  ticksTimer = setTimeout(() => {
    const asked = applied;
    // Only the ticks: routes and schedule definitions follow the reload push (or a reconnect).
    getInfo()
      .then((next) => {
        if (asked === applied) scheduleList.render(next.schedules);
      })
      .catch(() => undefined)
      .finally(followTicks);
  }, wait);
}

function setStatus(text: string, state: 'up' | 'down' | 'wait'): void {
  status.textContent = text;
  status.dataset.state = state;
}

socket.on('connect', () => {
  setStatus(`connected · ${socket.id}`, 'up');
  timeline.add({ dir: 'sys', event: 'connect', body: { id: socket.id }, status: 'ok' });
  void auth.verify();
});
socket.on('disconnect', (reason: string) => {
  setStatus('disconnected · reconnecting…', 'down');
  timeline.add({ dir: 'sys', event: 'disconnect', body: { reason }, status: 'error' });
  live.disconnected();
});
socket.on('connect_error', (e: Error) => setStatus(`cannot connect: ${e.message}`, 'down'));
socket.onAny((event, ...args) => {
  const body = args.length === 1 ? args[0] : args;
  const code = isEnvelope(body) && !body.ok ? body.code : undefined;
  // A live subscription's push is marked as one (the reply of a call sent without an ack is not).
  const mark = live.received(event, body);
  timeline.add({ dir: 'in', event, body, tag: mark?.tag ?? code, kind: mark?.kind });
  if (event === info.auth.event + info.socket.data) auth.observe(event, undefined, body);
  if (event === info.auth.event + info.socket.error && auth.session) void auth.verify();
});

control.on('routes', (next: PlaygroundInfo) => apply(next, 'reload'));
// This server's live queries moved (a push, a subscription made or stopped): their state is fetched again.
control.on('live', (_notice: LiveNotice) => live.refresh());
// After a restart (or a lost connection) the pushed reloads may have been missed.
let controlConnects = 0;
control.on('connect', () => {
  if (controlConnects++ > 0) void fetchRoutes('reload');
});

byTestId<HTMLInputElement>('route-filter').addEventListener('input', (e) => routeList.setFilter((e.target as HTMLInputElement).value));
byTestId<HTMLInputElement>('timeline-filter').addEventListener('input', (e) => timeline.setFilter((e.target as HTMLInputElement).value));
byTestId('timeline-clear').addEventListener('click', () => timeline.clear());

setStatus('connecting…', 'wait');
void fetchRoutes('load');

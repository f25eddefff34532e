// The sockey playground: built from the live manifest (/_sockey/routes.json), kept
// current by the `routes` event on the /_sockey namespace after every hot reload.
import { AuthPanel } from './auth.js';
import { byTestId } from './dom.js';
import { Editor } from './editor.js';
import { RouteList } from './routes-view.js';
import { Timeline } from './timeline.js';
import { isEnvelope, type PlaygroundInfo, type RouteSummary } from './types.js';

const ACK_TIMEOUT_MS = 10_000;

let info: PlaygroundInfo = { routes: [], socket: { data: '_data', error: '_error' }, auth: { enabled: true, event: 'auth', registerEmail: true } };
let loaded = false;

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
      resolve(envelope);
    });
  });
}

const auth = new AuthPanel(send);
const editor = new Editor(send);
const routeList = new RouteList(byTestId('routes'), select);

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

/** Shows a route table: the first one, or a reload's (with what changed in the timeline). */
function apply(next: PlaygroundInfo, why: 'load' | 'reload'): void {
  const before = new Map(info.routes.map((r) => [r.event, JSON.stringify(r)]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const r of next.routes) {
    const old = before.get(r.event);
    if (old === undefined) added.push(r.event);
    else if (old !== JSON.stringify(r)) changed.push(r.event);
    before.delete(r.event);
  }
  const removed = [...before.keys()];
  info = next;
  timeline.setErrorSuffix(next.socket.error);
  auth.configure(next.auth);
  byTestId('route-count').textContent = String(next.routes.length);

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

async function fetchRoutes(why: 'load' | 'reload'): Promise<void> {
  try {
    const res = await fetch('/_sockey/routes.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    apply((await res.json()) as PlaygroundInfo, why);
  } catch (e) {
    timeline.add({ dir: 'sys', event: 'routes.json', body: { error: (e as Error).message }, status: 'error', tag: 'failed' });
  }
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
});
socket.on('connect_error', (e: Error) => setStatus(`cannot connect: ${e.message}`, 'down'));
socket.onAny((event, ...args) => {
  const body = args.length === 1 ? args[0] : args;
  const code = isEnvelope(body) && !body.ok ? body.code : undefined;
  timeline.add({ dir: 'in', event, body, tag: code });
  if (event === info.auth.event + info.socket.data) auth.observe(event, undefined, body);
  if (event === info.auth.event + info.socket.error && auth.session) void auth.verify();
});

control.on('routes', (next: PlaygroundInfo) => apply(next, 'reload'));
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

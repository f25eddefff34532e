/**
 * What travels between sockey and its clients: the envelopes and what the playground reads of
 * the route table, the schedules and the live queries, as types (and the playground's namespace
 * name). The playground compiles against this file too, so the two cannot drift apart; it
 * imports its types only (its page loads nothing of the server).
 */

/** The socket.io namespace the playground's page listens on (route changes, live notices), kept apart from the app's events. */
export const PLAYGROUND_NAMESPACE = '/_sockey';

/** What every `<event>_data` packet and successful ack carries. */
export interface DataEnvelope<T = unknown> {
  ok: true;
  err: false;
  res: T;
}

/** What every `<event>_error` packet and failed ack carries. */
export interface ErrorEnvelope {
  ok: false;
  err: string;
  res: false;
  code: string;
  details?: unknown;
}

export type Envelope = DataEnvelope | ErrorEnvelope;

/** One route as the server describes it (`sockey routes --json`, the playground). */
export interface RouteSummary {
  event: string;
  builtin: boolean;
  auth: 'none' | 'optional' | 'required';
  action: string;
  emit: string;
  params: string[];
  /** The params JSON Schema as declared (what the playground builds its form from). */
  paramsSchema: unknown;
  timers: string[];
  rateLimit?: string;
  /** `boardMember` (a guards: name), `sql` (inline) or `hook path#export`. */
  guard?: string;
  /** `row`, `rows` or `changed`. */
  expect?: string;
  /** Rooms the route joins with presence (`join: { room, presence: true }`). */
  presence?: string[];
  /** `live on cards by cards.board_id`: the route is live, and which writes re-run it. */
  live?: string;
  description?: string;
}

/** One `schedules:` entry as `sockey routes --schedules --json` prints it. */
export interface ScheduleSummary {
  name: string;
  /** `every 5000ms`, or `cron 0 3 * * *` (with ` (Europe/Berlin)` when not UTC). */
  when: string;
  /** `reply`, `sql`, `hook ./jobs.ts#run`, `sql + reply`, ... (as a route's action). */
  action: string;
  /** `all`, `room lobby`, `user {{res.user_id}}` (with ` as <event>`), or `none`. */
  emit: string;
  description?: string;
}

/** A schedule in the playground: its summary, and its ticks as the answering process knows them. */
export interface ScheduleInfo extends ScheduleSummary {
  /** The next tick's scheduled time (epoch ms) when the answer was made; absent when the cron pattern has none left. */
  next?: number;
  /**
   * The latest tick this process handled since the schedule (re)started: it ran the action (`ok` or
   * `failed`), or another node of the cluster took the tick. Absent before that, and in a worker that
   * runs no schedules.
   */
  last?: { tick: number; outcome: 'ok' | 'failed' | 'another node' };
}

/** `/_sockey/routes.json`, and the `routes` event on the `/_sockey` namespace. */
export interface PlaygroundInfo {
  routes: RouteSummary[];
  schedules: ScheduleInfo[];
  socket: { data: string; error: string };
  auth: { enabled: boolean; event: string; registerEmail: boolean };
}

/** A server's live query counts (since it started; `subscriptions` and `groups` are current). */
export interface LiveStats {
  subscriptions: number;
  groups: number;
  reruns: number;
  pushes: number;
}

/** One group of live subscriptions: a live route, its params, and how many sockets share it. */
export interface LiveSubscription {
  event: string;
  params: Record<string, unknown>;
  subscribers: number;
}

/** `/_sockey/state.json`: what the built-ins of the answering process hold now (a type alias: plugins merge it as a record). */
export type PlaygroundState = {
  live?: { stats: LiveStats; subscriptions: LiveSubscription[] };
};

/** The `live` event on the playground's namespace: this process's live queries moved (a push, a subscription); throttled. */
export interface LiveNotice {
  stats: LiveStats;
}

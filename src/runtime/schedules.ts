import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { ClusterLink } from '../cluster/link.js';
import type { RouteTable } from '../compile/table.js';
import { dataEnvelope, toErrorEnvelope } from '../core/envelope.js';
import type { Call, CallState, Route } from '../core/route.js';
import type { SchedulePlan } from '../core/schedule.js';
import { SocketTimers } from '../core/timers.js';
import { nextMessageId } from '../core/message-id.js';
import type { ScheduleInfo } from '../core/wire.js';

/** The latest tick a scheduler handled (what the playground shows as a schedule's last run). */
export type LastTick = NonNullable<ScheduleInfo['last']>;

/** setTimeout's longest delay; a later tick is waited for in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Ticks missed by up to this much (a busy event loop) still run; older ones are skipped. */
const CATCH_UP_MS = 1000;

interface Running {
  plan: SchedulePlan;
  /** Messages under way on the database the plan was compiled against (a reload drains it before closing it). */
  load: RouteTable['load'];
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

/**
 * Runs a table's schedules. Ticks are the plan's scheduled times (aligned to
 * the epoch for `every`), so every node of a cluster computes the same ones:
 * with `cluster:` a node runs a tick only when it wins
 * `SET <prefix>:schedule:<name>:<tick> 1 NX PX <ttl>`. While Redis is down a
 * schedule runs on this node (`redisDown: local`, the default) or not at all
 * (`skip`); one log line each way. A failing action is logged, never fatal.
 */
export class Scheduler {
  private readonly running = new Map<string, Running>();
  private readonly last = new Map<string, LastTick>();
  private redisDownAnnounced = false;
  /** A schedule has no socket: hook timers (`ctx.timers`) start nothing, `ctx.address` is empty. */
  private readonly state: CallState = {
    timers: disposedTimers(),
    windows: new Map(),
    user: null,
    session: undefined,
    ready: undefined,
    address: '',
    signedInRooms: new Set(),
    signedInEnds: new Set(),
  };

  constructor(
    private readonly io: Server,
    private readonly log: Logger,
    private readonly cluster: ClusterLink | undefined,
  ) {}

  /** Starts the table's schedules: a changed one restarts, a removed one stops, an unchanged one runs on. */
  update(table: RouteTable): void {
    const stopped: string[] = [];
    for (const [name, r] of this.running) {
      const plan = table.schedules.get(name);
      if (plan?.fingerprint === r.plan.fingerprint) Object.assign(r, { plan, load: table.load });
      else {
        this.stopOne(name);
        stopped.push(name);
      }
    }
    const started: string[] = [];
    for (const [name, plan] of table.schedules) {
      if (this.running.has(name)) continue;
      const r: Running = { plan, load: table.load, stopped: false };
      this.running.set(name, r);
      this.arm(r, Date.now());
      started.push(name);
    }
    const restarted = started.filter((n) => stopped.includes(n));
    const parts = [
      started.length > restarted.length && `started ${started.filter((n) => !restarted.includes(n)).join(', ')}`,
      restarted.length && `restarted ${restarted.join(', ')}`,
      stopped.length > restarted.length && `stopped ${stopped.filter((n) => !restarted.includes(n)).join(', ')}`,
    ].filter(Boolean);
    if (parts.length) this.log.info(`schedules: ${parts.join('; ')}`);
  }

  /** Names of the schedules running now. */
  names(): string[] {
    return [...this.running.keys()];
  }

  /** The latest tick of a schedule this node ran, or that another node took, since the schedule (re)started. */
  lastTick(name: string): LastTick | undefined {
    return this.last.get(name);
  }

  stop(): void {
    for (const name of [...this.running.keys()]) this.stopOne(name);
  }

  private stopOne(name: string): void {
    const r = this.running.get(name);
    if (!r) return;
    r.stopped = true;
    clearTimeout(r.timer);
    this.running.delete(name);
    this.last.delete(name);
  }

  /** Waits for the plan's next tick after `after`. */
  private arm(r: Running, after: number): void {
    if (r.stopped) return;
    const tick = r.plan.next(after);
    if (tick === undefined) return;
    const delay = tick - Date.now();
    if (delay > MAX_DELAY_MS) {
      r.timer = setTimeout(() => this.arm(r, after), MAX_DELAY_MS);
      return;
    }
    r.timer = setTimeout(
      () => {
        this.fire(r.plan, r.load, tick).then(
          (outcome) => {
            if (outcome && !r.stopped && tick >= (this.last.get(r.plan.name)?.tick ?? -Infinity)) this.last.set(r.plan.name, { tick, outcome });
          },
          (e) => this.log.warn({ schedule: r.plan.name, err: (e as Error)?.message }, 'schedule failed'),
        );
        this.arm(r, Math.max(tick, Date.now() - CATCH_UP_MS));
      },
      Math.max(0, delay),
    );
  }

  /** Runs a tick here, unless another node took it (or Redis is down and the plan skips): how it went, or undefined when skipped. */
  private async fire(plan: SchedulePlan, load: RouteTable['load'], tick: number): Promise<LastTick['outcome'] | undefined> {
    if (this.cluster) {
      const claimed = await this.claim(plan, tick);
      if (claimed !== 'run') return claimed === 'taken' ? 'another node' : undefined;
    }
    load.inflight++;
    const call = this.callOf(plan, tick);
    try {
      let res = plan.action(call);
      if (res instanceof Promise) res = await res;
      plan.send?.(call, res, dataEnvelope(res));
      return 'ok';
    } catch (e) {
      const { code } = toErrorEnvelope(e);
      // One line per failure, not summarised: a schedule fails at most once per tick, whatever the load.
      this.log.warn({ schedule: plan.name, tick, code, err: (e as Error)?.message ?? String(e) }, 'schedule failed');
      return 'failed';
    } finally {
      load.inflight--;
    }
  }

  /** `run` when this node runs the tick: it won the tick's key, or Redis is down and the plan runs locally then; `taken` when another node won it. */
  private async claim(plan: SchedulePlan, tick: number): Promise<'run' | 'taken' | 'skip'> {
    const link = this.cluster!;
    if (link.isUp) {
      try {
        const following = plan.next(tick);
        // Longer than any skew between the nodes' clocks and timers; a tick's key is never reused anyway.
        const ttl = Math.min(Math.max(2 * ((following ?? tick + 60_000) - tick), 10_000), 3_600_000);
        const won = await link.client.set(link.key(`schedule:${plan.name}:${tick}`), '1', { condition: 'NX', expiration: { type: 'PX', value: ttl } });
        if (this.redisDownAnnounced) this.log.info('schedules: redis is reachable again; each tick runs on one node');
        this.redisDownAnnounced = false;
        return won === 'OK' ? 'run' : 'taken';
      } catch {
        // Redis went away between the check and the command: as if it were down.
      }
    }
    if (!this.redisDownAnnounced) {
      this.redisDownAnnounced = true;
      this.log.warn('schedules: redis is unreachable; schedules with redisDown: local run on this node, those with skip wait for it');
    }
    return plan.redisDown === 'local' ? 'run' : 'skip';
  }

  private callOf(plan: SchedulePlan, tick: number): Call {
    const now = new Date().toISOString();
    const params = { tick, now };
    const route = { event: plan.name, dataEvent: plan.dataEvent, errorEvent: plan.dataEvent, builtin: false } as unknown as Route;
    return {
      event: plan.name,
      params,
      auth: null,
      // No socket: a hook's ctx.socket is undefined, and emits to self or broadcast fail (and are logged).
      socket: undefined as unknown as Socket,
      state: this.state,
      io: this.io,
      log: this.log,
      route,
      view: { params, auth: null, res: undefined, event: plan.name, tick, now },
      id: nextMessageId(),
      started: 0,
    };
  }
}

function disposedTimers(): SocketTimers {
  const t = new SocketTimers();
  t.clearAll();
  return t;
}

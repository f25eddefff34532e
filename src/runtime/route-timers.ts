import type { Call, Route, TimerPlan } from '../core/route.js';
import { deliver, resolveTarget } from '../directives/deliver.js';
import { dataEnvelope, toErrorEnvelope } from '../core/envelope.js';

/**
 * Starts a route's timers for the calling socket, replacing the ones the
 * route started before (an interval is never stacked).
 */
export function startRouteTimers(call: Call, route: Route): void {
  // Signed in on this socket (not a per-message key): a later sign-out is seen on the socket's state.
  const viaSocket = call.auth !== null && call.auth === call.state.user;
  call.state.timers.replace(route.event, (track, untrack) => {
    for (const plan of route.timers) {
      if (plan.kind === 'after') {
        const t: NodeJS.Timeout = setTimeout(() => {
          untrack(t);
          void fire(call, route, plan, viaSocket);
        }, plan.ms);
        track(t);
      } else {
        track(setInterval(() => void fire(call, route, plan, viaSocket), plan.ms));
      }
    }
  }, call.auth !== null);
}

async function fire(call: Call, route: Route, plan: TimerPlan, viaSocket: boolean): Promise<void> {
  if (!call.socket.connected) return;
  // Started as a user who has since signed out (or been replaced): stop speaking for them.
  if (viaSocket && call.state.user !== call.auth) {
    call.state.timers.clear(route.event);
    return;
  }
  try {
    let res = plan.action(call);
    if (res instanceof Promise) res = await res;
    const event = plan.emit.event ? plan.emit.event(call, res) : route.dataEvent;
    deliver(call, resolveTarget(plan.emit, call, res), event, dataEnvelope(res));
  } catch (e) {
    const envelope = toErrorEnvelope(e);
    call.log.warn({ event: route.event, code: envelope.code, err: (e as Error)?.message }, 'timer action failed');
    call.socket.emit(route.errorEvent, envelope);
  }
}

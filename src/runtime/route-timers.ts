import { dataEnvelope, toErrorEnvelope } from '../core/envelope.js';
import { formatMessageId } from '../core/message-id.js';
import { logRepeated } from '../core/repeats.js';
import type { Call, Route, TimerPlan } from '../core/route.js';

/**
 * Starts a route's timers for the calling socket, replacing the ones the
 * route started before (an interval is never stacked).
 */
export function startRouteTimers(call: Call, route: Route): void {
  const timers = call.state.timers;
  timers.clear(route.event);
  // Timers started as a user are cleared by SessionIndex when that user signs out, is revoked or times out.
  const asUser = call.auth !== null;
  for (const plan of route.timers) {
    const tick = () => void fire(call, route, plan);
    if (plan.kind === 'after') timers.after(route.event, plan.ms, tick, asUser);
    else timers.every(route.event, plan.ms, tick, asUser);
  }
}

async function fire(call: Call, route: Route, plan: TimerPlan): Promise<void> {
  if (!call.socket.connected) return;
  try {
    let res = plan.action(call);
    if (res instanceof Promise) res = await res;
    plan.emit.send(call, res, dataEnvelope(res));
  } catch (e) {
    const envelope = toErrorEnvelope(e);
    const err = (e as Error)?.message;
    // One timer per socket: during an outage they all fail alike.
    logRepeated(call.log, 'warn', { event: route.event, code: envelope.code, err, msgId: formatMessageId(call.id) }, 'timer action failed', [route.event, envelope.code, err]);
    call.socket.emit(route.errorEvent, envelope);
  }
}

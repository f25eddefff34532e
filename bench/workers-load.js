#!/usr/bin/env node
// One load-generator process of bench/workers.js, forked by it and driven over IPC:
// socket.io-client sockets (websocket only, one connection each) that run closed loops
// (emit with an ack, check the reply, emit again) in the window the parent gives.
//
//   { type: 'connect', port, clients }   open `clients` sockets to the port, one after the
//                                        other; answers { type: 'connected', port, retries }
//   { type: 'round', port, scenario, startAt, from, to, drainMs }
//                                        loops from startAt until `to` (epoch ms, the
//                                        clock of now() below: shared by the processes);
//                                        answers { type: 'done', completed, okTotal,
//                                        latencies (Float64Array, ms), errors }
//   { type: 'close', port }              disconnects that port's sockets; { type: 'closed' }
// A failure answers { type: 'error', message }.
import { performance } from 'node:perf_hooks';
import { io as connect } from 'socket.io-client';
import { randomUser, userRow } from './db.js';

const CONNECT_MS = 10_000;
const ATTEMPT_MS = 3000;
const ATTEMPTS = 5;
const now = () => performance.timeOrigin + performance.now();
const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);

/** The event, a payload per request and the check of every reply's `res` (as bench/run.js's). */
const SCENARIOS = {
  echo: { event: 'echo', payload: () => ({ text: 'hello world' }), check: (p, res) => isObject(res) && res.text === p.text && Object.keys(res).length === 1 },
  'user.get': { event: 'user.get', payload: () => ({ id: randomUser() }), check: userRow },
};

const sockets = new Map(); // port -> socket[]

/**
 * Opens n sockets, one at a time (sticky's least-connection count only moves once a
 * worker has the client, so a burst of handshakes can land on one worker). A socket
 * whose engine opened but whose namespace CONNECT got no answer within ATTEMPT_MS is
 * dropped and opened again (up to ATTEMPTS times): behind `serve --workers` the first
 * frame a client sends right after the handshake can be lost (bench/README.md).
 * Resolves with the number of such retries.
 */
async function open(port, n) {
  const url = `http://127.0.0.1:${port}`;
  const list = [];
  sockets.set(port, list);
  let retries = 0;
  for (let i = 0; i < n; i++) {
    for (let attempt = 1; ; attempt++) {
      const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: CONNECT_MS });
      const ok = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve(false), ATTEMPT_MS);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve(true);
        });
        socket.once('connect_error', (e) => {
          clearTimeout(timer);
          reject(new Error(`cannot connect to ${url}: ${e.message}`));
        });
      });
      if (ok) {
        list.push(socket);
        break;
      }
      socket.disconnect();
      retries++;
      if (attempt === ATTEMPTS) throw new Error(`${url}: no answer to the namespace CONNECT in ${ATTEMPTS} attempts of ${ATTEMPT_MS / 1000} s (engine ${socket.io.engine?.readyState})`);
    }
  }
  return retries;
}

async function round({ port, scenario: name, startAt, from, to, drainMs }) {
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const list = sockets.get(port) ?? [];
  const latencies = [];
  const errors = {};
  const error = (code, example) => {
    errors[code] ??= { count: 0, example };
    errors[code].count++;
  };
  let completed = 0;
  let okTotal = 0;
  let inFlight = 0;
  let dead = false;
  const disconnected = new Set();
  const onDisconnect = (why) => disconnected.add(why);
  for (const s of list) s.on('disconnect', onDisconnect);
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - now())));
  const loop = (socket) =>
    new Promise((resolve) => {
      const next = () => {
        if (dead) return resolve();
        const start = now();
        if (start >= to) return resolve();
        const payload = scenario.payload();
        inFlight++;
        socket.emit(scenario.event, payload, (envelope) => {
          inFlight--;
          if (dead) return resolve();
          const end = now();
          if (!envelope || envelope.ok !== true || envelope.err !== false) error(envelope?.code ?? 'BAD_ENVELOPE', JSON.stringify(envelope)?.slice(0, 300));
          else if (!scenario.check(payload, envelope.res)) error('WRONG_RESULT', `${JSON.stringify(payload)} -> ${JSON.stringify(envelope.res)?.slice(0, 300)}`);
          else {
            okTotal++;
            if (end >= from && end <= to) {
              completed++;
              latencies.push(end - start);
            }
          }
          next();
        });
      };
      next();
    });
  const loops = Promise.all(list.map(loop));
  const deadline = Math.max(0, to + drainMs - now());
  const drained = await Promise.race([loops.then(() => true), new Promise((r) => setTimeout(() => r(false), deadline))]);
  if (!drained) {
    dead = true;
    const n = inFlight;
    error('TIMEOUT', `${n} request(s) unanswered ${drainMs / 1000} s after the round ended`);
    if (n > 1) errors.TIMEOUT.count += n - 1;
  }
  for (const s of list) s.off('disconnect', onDisconnect);
  for (const why of disconnected) error('DISCONNECTED', why);
  return { completed, okTotal, latencies: Float64Array.from(latencies), errors };
}

process.on('message', (m) => {
  const reply = (x) => process.send?.(x);
  const failed = (e) => reply({ type: 'error', message: e?.stack ?? String(e) });
  if (m?.type === 'connect') open(m.port, m.clients).then((retries) => reply({ type: 'connected', port: m.port, retries }), failed);
  else if (m?.type === 'round') round(m).then((r) => reply({ type: 'done', ...r }), failed);
  else if (m?.type === 'close') {
    for (const s of sockets.get(m.port) ?? []) s.disconnect();
    sockets.delete(m.port);
    reply({ type: 'closed' });
  }
});
process.on('disconnect', () => process.exit(0)); // the parent is gone
process.on('SIGINT', () => {}); // Ctrl-C reaches the whole group: the parent stops this one (SIGTERM) once it has cleaned up

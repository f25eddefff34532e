// What the benchmarks share besides their databases (db.js), servers (servers.js) and /proc
// counters (proc.js): the load sockets, and the statistics of their rounds.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as connect } from 'socket.io-client';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');

export const START_MS = 20_000; // a server must listen within this
export const CONNECT_MS = 10_000; // all sockets must connect within this

export function log(line) {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------- load

/** N sockets to one server, all connected, websocket only, one connection each. */
export async function openSockets(port, n) {
  const url = `http://127.0.0.1:${port}`;
  const sockets = [];
  try {
    await Promise.all(
      Array.from({ length: n }, () => {
        const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: CONNECT_MS });
        sockets.push(socket);
        return new Promise((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', (e) => reject(new Error(`cannot connect to ${url}: ${e.message}`)));
        });
      }),
    );
  } catch (e) {
    for (const s of sockets) s.disconnect();
    throw e;
  }
  return sockets;
}

// ---------------------------------------------------------------- statistics

/** The q-quantile (0..1) of `values`, nearest rank; NaN when empty. */
export function percentile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

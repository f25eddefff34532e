import { readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { Socket as ClientSocket } from 'socket.io-client';
import { eventually } from './flow.js';
import { call, sleep, type TestServer } from './util.js';

type LogLine = Record<string, unknown>;

const msg = (l: LogLine) => (typeof l.msg === 'string' ? l.msg : '');

/** The `reloaded (...)` info lines logged so far. */
export const reloadedLines = (t: TestServer): string[] => t.logs.lines.map(msg).filter((m) => m.startsWith('reloaded ('));

/** The `reload (...) rejected` error lines logged so far. */
export const rejectedLines = (t: TestServer): string[] => t.logs.lines.map(msg).filter((m) => /^reload \(.*\) rejected/.test(m));

/** Log lines at a level (pino: 30 info, 40 warn, 50 error) from index `from` on. */
export const linesAt = (t: TestServer, level: number, from = 0): string[] =>
  t.logs.lines
    .slice(from)
    .filter((l) => l.level === level)
    .map(msg);

/** Polls `event` (acked) until its envelope deep-equals `expected`; returns it. */
export function untilReply(socket: ClientSocket, event: string, payload: unknown, expected: unknown, what = `${event} to answer ${JSON.stringify(expected)}`, timeoutMs = 5000) {
  return eventually(
    () => call(socket, event, payload, 2000),
    (r) => isDeepStrictEqual(r, expected),
    what,
    timeoutMs,
  );
}

/** Resolves once `n` reloads (in total) have been logged. */
export function untilReloads(t: TestServer, n: number, timeoutMs = 5000): Promise<string[]> {
  return eventually(
    () => reloadedLines(t),
    (l) => l.length >= n,
    `${n} "reloaded" log lines`,
    timeoutMs,
  );
}

/**
 * chokidar attaches its watches asynchronously and `watchServer` has no
 * "ready" signal, so a write right after it starts (or right after a reload
 * adds a file) can go unseen. This rewrites each file with its own content
 * until the reload it causes is logged, then waits until no reload has been
 * logged for `quietMs`, so later counts start clean.
 */
export async function armWatcher(t: TestServer, files: string[] = t.server.table.files.filter((f) => f.startsWith(t.dir)), quietMs = 200): Promise<void> {
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const before = reloadedLines(t).length;
    await eventually(
      () => {
        if (reloadedLines(t).length === before) writeFileSync(file, text);
        return sleep(120).then(() => reloadedLines(t).length);
      },
      (n) => n > before,
      `the watcher to react to ${file}`,
      5000,
      0,
    );
  }
  let count = reloadedLines(t).length;
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    await sleep(20);
    const now = reloadedLines(t).length;
    if (now !== count) {
      count = now;
      since = Date.now();
    }
  }
}

export interface LoadResult {
  client: number;
  ok: boolean;
  res?: unknown;
  error?: string;
  at: number;
}

/**
 * A steady closed loop on each socket: call `event`, await the ack, call
 * again. `stop()` ends the loops and gives every result, in order per client.
 */
export function steadyLoad(sockets: ClientSocket[], event: string, payload: unknown = {}, ackTimeoutMs = 5000) {
  let running = true;
  const results: LoadResult[] = [];
  const loops = sockets.map(async (socket, client) => {
    while (running) {
      try {
        const r = await call(socket, event, payload, ackTimeoutMs);
        results.push({ client, ok: r?.ok === true, res: r?.ok === true ? r.res : r, at: performance.now() });
      } catch (e) {
        results.push({ client, ok: false, error: (e as Error).message, at: performance.now() });
      }
    }
  });
  return {
    results,
    async stop(): Promise<LoadResult[]> {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

/** The sequence of values each client saw, with repeats collapsed (e.g. ['a', 'b']). */
export function transitions(results: LoadResult[]): unknown[][] {
  const per = new Map<number, unknown[]>();
  for (const r of results) {
    const seq = per.get(r.client) ?? [];
    if (!seq.length || !isDeepStrictEqual(seq[seq.length - 1], r.res)) seq.push(r.res);
    per.set(r.client, seq);
  }
  return [...per.keys()].sort().map((k) => per.get(k)!);
}

/**
 * `t.write`, but at least `gapMs` after the previous write of the same file.
 * chokidar 4 drops a second `change` of a path within 50 ms of the first (a
 * leading-edge throttle, no trailing event); the test "a second save that
 * lands right after the first one went live is not lost" covers that on its
 * own, so other tests space their edits past it to test one thing at a time.
 */
export function spacedWriter(t: TestServer, gapMs = 75): (rel: string, text: string) => Promise<string> {
  const last = new Map<string, number>();
  return async (rel, text) => {
    const wait = (last.get(rel) ?? 0) + gapMs - Date.now();
    if (wait > 0) await sleep(wait);
    last.set(rel, Date.now());
    return t.write(rel, text);
  };
}

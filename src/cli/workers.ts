import cluster, { type Worker } from 'node:cluster';
import { createServer, Socket, type Server as NetServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { readVersion } from '../pipeline/build.js';
import { envPort } from '../runtime/port.js';
import type { WorkerHooks } from '../runtime/server.js';
import { UserError } from './io.js';

/** The bin the workers run (`sockey serve` with the primary's arguments). */
const BIN = fileURLToPath(new URL('../../bin/sockey.js', import.meta.url));

/** First wait before a crashed worker is started again; doubled per crash in a row, up to MAX_BACKOFF_MS. */
const BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
/** A worker that served this long before it died starts again after the first wait. */
const STABLE_MS = 10_000;

/** What a worker tells the primary once it serves. */
interface ReadyMessage {
  type: 'sockey:ready';
  summary: string;
}

/** `--workers N|auto`: the number of processes (1 = one process, no cluster). */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return 1;
  if (value === 'auto') return availableParallelism();
  const n = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) throw new UserError(`--workers must be a number of processes (1 or more) or auto, got "${value}"`);
  return n;
}

/** This process's worker number (1..N) when it is a worker of `serve --workers`. */
export function workerNumber(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (!cluster.isWorker || !env.SOCKEY_WORKER) return undefined;
  return Number(env.SOCKEY_WORKER);
}

/** A worker's logger: every line says which worker (a prefix in pretty lines, a `worker` field in JSON). */
export function workerLogger(log: Logger, n: number, json: boolean): Logger {
  return json ? log.child({ worker: n }) : log.child({}, { msgPrefix: `[worker ${n}] ` });
}

/**
 * sticky hands a connection to a worker with `worker.send(message, socket)`
 * and keeps reading the socket until Node has passed it on; a chunk read in
 * between (a websocket client's first frame, right after its upgrade) went to
 * sticky's listener here and was lost, and that client never connected (about
 * one websocket connection in ten under load). Reading stops before the hand-off.
 */
function handOffWithoutReading(worker: Worker): void {
  const send = worker.send.bind(worker) as (...args: unknown[]) => boolean;
  worker.send = ((message: unknown, handle?: unknown, ...rest: unknown[]) => {
    if ((message as { type?: unknown } | null)?.type === 'sticky:connection' && handle instanceof Socket) {
      (handle as Socket & { _handle?: { readStop?: () => void } })._handle?.readStop?.();
    }
    return send(message, handle, ...rest);
  }) as Worker['send'];
}

/**
 * A worker's part: it does not listen; sticky sessions (set up by the primary)
 * hand it connections once io exists, and emits cross to the other workers
 * through the cluster adapter (unless the manifest's `cluster:` brings Redis).
 */
export async function workerHooks(env: NodeJS.ProcessEnv = process.env): Promise<WorkerHooks> {
  // Loaded only by `serve --workers`: one process never needs them.
  const [{ createAdapter }, { default: sticky }] = await Promise.all([import('@socket.io/cluster-adapter'), import('@socket.io/sticky')]);
  return {
    port: Number(env.SOCKEY_WORKER_PORT ?? 0),
    number: Number(env.SOCKEY_WORKER ?? 1),
    adapter: createAdapter(),
    attach: (io) => sticky.setupWorker(io),
  };
}

/** Tells the primary this worker serves (the primary then routes connections to it). */
export function reportReady(summary: string): void {
  const message: ReadyMessage = { type: 'sockey:ready', summary };
  process.send?.(message);
}

interface Slot {
  n: number;
  worker?: Worker;
  ready: boolean;
  readyAt: number;
  /** Crashes in a row (reset when a worker served STABLE_MS). */
  crashes: number;
  restart?: NodeJS.Timeout;
  /** A SIGHUP came while this worker was starting: it reloads once ready. */
  hupPending: boolean;
  /** Told when this slot's worker exits or is ready (the rolling restart waits on them). */
  onGone?: () => void;
  onReady?: () => void;
}

/** How long a rolling restart waits for one worker to drain, or for its successor to serve. */
const ROLL_STEP_MS = 60_000;

export interface PrimaryOptions {
  /** The serve arguments, as given: every worker runs `sockey serve <argv>`. */
  argv: string[];
  workers: number;
  manifest: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  port?: number;
  host?: string;
  log: Logger;
  /** Resolves with the reason when the primary should drain and stop (SIGINT, SIGTERM, abort). */
  stopped: Promise<string>;
  stop(why: string): void;
}

const STARTING_503 = 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 19\r\nConnection: close\r\n\r\nsockey is starting\n';

/**
 * The primary of `serve --workers N`: it owns the port and passes every
 * connection to a worker with @socket.io/sticky (a polling client's requests
 * all reach the worker that holds its session), relays the cluster adapter's
 * messages between workers, forwards SIGHUP, drains on SIGTERM and starts a
 * crashed worker again. It reads the manifest only for the port and host.
 *
 * Throws what SockeyServer.start throws before serving (ManifestError, a
 * listen error); resolves with the exit code.
 */
export async function runPrimary(o: PrimaryOptions): Promise<number> {
  const { log } = o;
  const settings = readVersion({ manifestPath: o.manifest, cwd: o.cwd, env: o.env }).settings.server;
  const port = o.port ?? envPort(o.env) ?? settings.port;
  const host = o.host ?? settings.host;

  // A plain TCP server: sticky reads each connection's first bytes and hands the socket on.
  const server: NetServer = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const realPort = (server.address() as { port: number }).port;
  // After the start (EMFILE, ...): logged; the primary goes on with the connections it has.
  server.on('error', (e) => log.warn(`primary: ${e.message}`));

  const slots: Slot[] = Array.from({ length: o.workers }, (_, i) => ({ n: i + 1, ready: false, readyAt: 0, crashes: 0, hupPending: false }));
  const slotOf = (w: Worker) => slots.find((s) => s.worker === w);
  const readyCount = () => slots.filter((s) => s.ready).length;

  const [{ setupPrimary }, { default: sticky }] = await Promise.all([import('@socket.io/cluster-adapter'), import('@socket.io/sticky')]);
  sticky.setupMaster(server as unknown as HttpServer, { loadBalancingMethod: 'least-connection' });
  setupPrimary();
  // The sockets the primary itself still holds (requests with a body are relayed over IPC).
  const held = new Set<Socket>();
  // After sticky's listener: while no worker serves, answer 503 here (as one process does while starting).
  server.on('connection', (socket: Socket) => {
    held.add(socket);
    socket.once('close', () => held.delete(socket));
    socket.on('error', () => socket.destroy());
    if (readyCount() > 0) return;
    socket.removeAllListeners('data');
    socket.once('data', () => socket.end(STARTING_503));
  });

  cluster.setupPrimary({ exec: BIN, args: ['serve', ...o.argv], cwd: o.cwd, serialization: 'advanced' });
  let announced = false;
  let stopping = false;
  let exitCode = 0;
  let drained = () => {};
  const allGone = new Promise<void>((resolve) => (drained = resolve));
  const alive = () => slots.filter((s) => s.worker).length;

  const fork = (slot: Slot) => {
    slot.restart = undefined;
    const worker = cluster.fork({ ...o.env, SOCKEY_WORKER: String(slot.n), SOCKEY_WORKER_PORT: String(realPort) });
    // sticky's least-connection balancing picks the worker with the fewest clients: one that is
    // still starting is never picked while another serves (it counts from 0 once ready).
    (worker as Worker & { clientsCount?: number }).clientsCount = Infinity;
    handOffWithoutReading(worker);
    slot.worker = worker;
    slot.ready = false;
  };

  const onMessage = (worker: Worker, message: unknown) => {
    if ((message as ReadyMessage | undefined)?.type !== 'sockey:ready') return;
    const slot = slotOf(worker);
    if (!slot) return;
    slot.ready = true;
    slot.readyAt = Date.now();
    (worker as Worker & { clientsCount?: number }).clientsCount = 0;
    slot.onReady?.();
    if (stopping) return;
    if (slot.hupPending) {
      slot.hupPending = false;
      worker.process.kill('SIGHUP');
    }
    if (announced) {
      log.info(`worker ${slot.n} (pid ${worker.process.pid}) serves again`);
      return;
    }
    // The first one alone (it applies the schema files), then the others together.
    if (slot.n === 1) for (const s of slots.slice(1)) fork(s);
    if (readyCount() === slots.length) {
      announced = true;
      log.info(`sockey listening on http://${host ?? '127.0.0.1'}:${realPort} (${slots.length} workers, ${(message as ReadyMessage).summary})`);
    }
  };

  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    const slot = slotOf(worker);
    if (!slot) return;
    slot.worker = undefined;
    slot.ready = false;
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    if (slot.onGone && !stopping) {
      // Stopped by the rolling restart: its successor starts now, not after a crash's wait.
      slot.onGone();
      fork(slot);
      return;
    }
    if (stopping) {
      if (code !== 0) log.warn(`worker ${slot.n} (pid ${worker.process.pid}) ${how} while closing`);
      if (alive() === 0) drained();
      return;
    }
    if (!announced) {
      // It did not start (its problems are on stderr already): the manifest or database is not usable.
      exitCode = code || 1;
      o.stop(`worker ${slot.n} did not start (${how})`);
      return;
    }
    if (Date.now() - slot.readyAt > STABLE_MS && slot.readyAt > 0) slot.crashes = 0;
    const wait = Math.min(BACKOFF_MS * 2 ** slot.crashes, MAX_BACKOFF_MS);
    slot.crashes++;
    log.warn(`worker ${slot.n} (pid ${worker.process.pid}) ${how}: starting it again in ${wait} ms (${readyCount()} of ${slots.length} serve meanwhile)`);
    slot.readyAt = 0;
    slot.restart = setTimeout(() => fork(slot), wait);
  };

  const onHup = () => {
    if (stopping) return;
    log.info(`SIGHUP: every worker reloads`);
    for (const s of slots) {
      if (s.ready && s.worker) s.worker.process.kill('SIGHUP');
      else s.hupPending = true;
    }
  };

  /**
   * SIGUSR2: a rolling restart, one worker at a time (the others serve): sticky sends
   * the worker no new client, it drains (its messages under way finish and are
   * answered; its clients reconnect to the others), its successor starts, and the next
   * worker goes once that one serves. No acked message is lost.
   */
  let rolling = false;
  const step = (slot: Slot, what: 'onGone' | 'onReady') =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ROLL_STEP_MS);
      slot[what] = () => {
        clearTimeout(timer);
        slot[what] = undefined;
        resolve(true);
      };
    });
  const onUsr2 = () => {
    if (stopping || rolling || !announced) return;
    rolling = true;
    log.info(`SIGUSR2: restarting the ${slots.length} workers one at a time`);
    void (async () => {
      let done = true;
      for (const slot of slots) {
        const old = slot.worker;
        if (stopping || !old || !slot.ready) continue;
        (old as Worker & { clientsCount?: number }).clientsCount = Infinity;
        const gone = step(slot, 'onGone');
        const ready = step(slot, 'onReady');
        old.process.kill('SIGTERM');
        if (!(await gone) || !(await ready)) {
          log.warn(`SIGUSR2: worker ${slot.n} did not restart within ${ROLL_STEP_MS} ms; the rolling restart stops here`);
          done = false;
          break;
        }
      }
      rolling = false;
      for (const s of slots) s.onGone = s.onReady = undefined;
      if (!stopping && done) log.info('SIGUSR2: every worker restarted');
    })();
  };

  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  process.on('SIGHUP', onHup);
  process.on('SIGUSR2', onUsr2);
  log.info(`primary (pid ${process.pid}) on port ${realPort}: starting ${slots.length} workers`);
  fork(slots[0]!);

  const why = await o.stopped;
  stopping = true;
  log.info(`${why}: closing${alive() ? ` ${alive()} worker(s)` : ''}`);
  process.off('SIGHUP', onHup);
  process.off('SIGUSR2', onUsr2);
  // No new connections; each worker closes its sockets (finishing what runs) and its database.
  server.close();
  for (const s of slots) {
    clearTimeout(s.restart);
    // One still starting closes as soon as it is up (serve catches the signal before it starts).
    s.worker?.process.kill('SIGTERM');
  }
  if (alive() > 0) await allGone;
  for (const socket of held) socket.destroy();
  cluster.off('message', onMessage);
  cluster.off('exit', onExit);
  log.info('closed');
  return exitCode;
}

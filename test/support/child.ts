import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/sockey.js', import.meta.url));

/** Runs the built `sockey` bin to completion. */
export function sockey(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...argv], { cwd, encoding: 'utf8', timeout: 15_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Served {
  child: ChildProcess;
  /** The port from the "sockey listening on" line. */
  port: number;
  url: string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/**
 * Starts `sockey serve <argv>` as a child process and waits for its
 * "sockey listening on http://HOST:PORT" line on stderr.
 */
export async function serve(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 10_000): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', ...argv], { cwd, env: { ...process.env, SOCKEY_PORT: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
      const m = /sockey listening on http:\/\/[^:\s]+:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before listening; stderr:\n${err}`));
    });
  });
  return { child, port, url: `http://127.0.0.1:${port}`, stderr: () => err, exited };
}

/** Kills every served child still running (for afterEach). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves with the exit, or rejects when the process is still running after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms))]);
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../../src/cli/index.js';

/** The repository root, and the `sockey` bin (it runs the built dist/: `npm run build` first). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'sockey.js');

function requireBuild(): void {
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` before this test');
}

/** Runs the CLI in-process (src/, no build needed); resolves with the exit code and what it printed. */
export async function runCli(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await cli(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), cwd, env });
  return { code, stdout, stderr };
}

/** Runs the built `sockey` bin to completion. */
export function sockey(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  requireBuild();
  const r = spawnSync(process.execPath, [BIN, ...argv], { cwd, encoding: 'utf8', timeout: 15_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Served {
  child: ChildProcess;
  /** The port from the "sockey listening on" line. */
  port: number;
  url: string;
  /** Everything written on stderr so far. */
  stderr(): string;
  /** The complete lines of stderr so far, without empty ones (the default "pretty" log format: one line per entry). */
  lines(): string[];
  /** Lines of stderr containing `text`, from line `from` on. */
  grep(text: string, from?: number): string[];
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/**
 * Starts `sockey serve <argv>` as a child process (the built bin) and waits
 * for its "sockey listening on http://HOST:PORT" line on stderr. SOCKEY_PORT
 * is cleared unless `env` sets it.
 */
export async function serve(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<Served> {
  requireBuild();
  const child = spawn(process.execPath, [BIN, 'serve', ...argv], { cwd, env: { ...process.env, SOCKEY_PORT: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stdout!.resume();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve((exit = { code, signal }));
    });
  });
  // Complete lines only: the text after the last newline may be half a line.
  const lines = () =>
    err
      .split('\n')
      .slice(0, -1)
      .filter((l) => l.trim());
  const stop = async (graceMs = 5000) => {
    if (exit) return exit.code;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const { code } = await exited;
    clearTimeout(timer);
    return code;
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no "listening" line within ${timeoutMs} ms; stderr:\n${err}`));
      child.kill('SIGKILL');
    }, timeoutMs);
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
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    stderr: () => err,
    lines,
    grep: (text, from = 0) =>
      lines()
        .slice(from)
        .filter((l) => l.includes(text)),
    exited,
    stop,
  };
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
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

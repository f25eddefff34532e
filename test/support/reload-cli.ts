import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './reload-util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'sockey.js');

export interface CliServer {
  proc: ChildProcess;
  url: string;
  /** stderr, line by line (the default "pretty" log format: one line per entry). */
  lines: string[];
  /** Lines containing `text`, from index `from` on. */
  grep(text: string, from?: number): string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Runs `node bin/sockey.js serve sockey.yaml --port 0 --host 127.0.0.1 ...args`
 * in `dir` (the built dist: `npm run build` first) and resolves once it logs
 * `sockey listening on http://127.0.0.1:PORT`.
 */
export async function startCli(dir: string, args: string[] = [], timeoutMs = 15_000): Promise<CliServer> {
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` before this test');
  const proc = spawn(process.execPath, [BIN, 'serve', 'sockey.yaml', '--port', '0', '--host', '127.0.0.1', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const lines: string[] = [];
  let partial = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter((l) => l.trim()));
  });
  proc.stdout!.resume();
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve((exited = code))));
  const stop = async (graceMs = 5000) => {
    if (exited !== undefined) return exited;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    const code = await exit;
    clearTimeout(timer);
    return code;
  };
  try {
    const listening = await eventually(
      () => lines.map((l) => /sockey listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(l)?.[1]).find(Boolean),
      (url) => url !== undefined || exited !== undefined,
      'sockey serve to listen',
      timeoutMs,
    );
    if (!listening) throw new Error(`sockey serve exited with ${exited}:\n${lines.join('\n')}`);
    return { proc, url: listening, lines, grep: (text, from = 0) => lines.slice(from).filter((l) => l.includes(text)), stop };
  } catch (e) {
    await stop(1000);
    throw e;
  }
}

// Starting the benchmarks' servers as child processes (bench/run.js, bench/workers.js, bench/live.js):
// sockey (`serve <manifest> --port 0 --host 127.0.0.1 --log json`, its port from the
// JSON line `sockey listening on http://HOST:PORT (...)`; with --workers the primary
// prints that line once every worker serves) and bench/handwritten.js (`listening on
// <port>` on stdout). Warnings and errors they print later are shown as they come.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseJson(line) {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** `ready` for `sockey serve --log json`: the port of its `sockey listening on http://HOST:PORT (...)` line. */
export function sockeyReady(line, stream) {
  if (stream !== 'stderr') return undefined;
  const m = /^sockey listening on http:\/\/[^\s]+:(\d+) \(/.exec(parseJson(line)?.msg ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `isProblem` for `sockey serve --log json`: warnings and above, or a line that is not JSON. */
export function sockeyProblem(line) {
  const rec = parseJson(line);
  return !rec || typeof rec.level !== 'number' || rec.level >= 40;
}

/** `ready` for the hand-written servers: `listening on PORT` on stdout. */
export function listeningReady(line, stream) {
  const m = stream === 'stdout' ? /^listening on (\d+)$/.exec(line) : null;
  return m ? Number(m[1]) : undefined;
}

/** `isProblem` for the hand-written servers: anything on stderr. */
export const stderrProblem = (_line, stream) => stream === 'stderr';

/**
 * A starter of server children that share these settings:
 *   cwd, nodeArgs (node flags before the script), startMs (a server must listen within this),
 *   log(line), registry (a Set: each server is in it from spawn to exit, for the cleanup),
 *   onExit(handle, how, tail) (a server that exits after it listened; `tail` its last lines).
 * Each start resolves with a handle { label, pid, port, problems, problemCount, exited, stop() };
 * stopAll() stops every server of the registry (SIGTERM, SIGKILL after 3 s) and waits for them.
 */
export function serverStarter({ cwd, nodeArgs = [], startMs = 20_000, log, registry, onExit = () => {} }) {
  /** Starts `node <nodeArgs> <args>` and resolves once `ready(line, stream)` returns its port. */
  function start(label, args, env, ready, isProblem) {
    const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    const problems = [];
    let done = false;
    let resolveExit;
    const handle = {
      label,
      pid: child.pid,
      problems,
      problemCount: 0,
      exited: new Promise((r) => (resolveExit = r)),
      stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, 3000).unref();
      },
    };
    registry.add(handle);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${label} did not start within ${startMs / 1000} s`)), startMs);
      function finish(err, port) {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(new Error(`${err.message}\n--- ${label} output ---\n${tail.join('\n')}`));
        else resolve(Object.assign(handle, { port }));
      }
      const lines = (stream, name) => {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf('\n')) !== -1) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            tail.push(line);
            if (tail.length > 50) tail.shift();
            if (!done) {
              const port = ready(line, name);
              if (port) finish(undefined, port);
            } else if (isProblem(line, name)) {
              handle.problemCount++;
              if (problems.length < 100) problems.push(line);
              if (handle.problemCount <= 10) log(`  [${label}] ${line}`);
              else if (handle.problemCount === 11) log(`  [${label}] (more output of ${label} is counted, not printed)`);
            }
          }
        });
      };
      lines(child.stdout, 'stdout');
      lines(child.stderr, 'stderr');
      child.on('error', (e) => finish(e));
      child.on('exit', (code, signal) => {
        registry.delete(handle);
        resolveExit();
        if (!done) finish(new Error(`${label} exited (${signal ?? code}) before listening`));
        else onExit(handle, signal ?? code, tail);
      });
    });
  }

  /** `node <bin> serve <manifest> --port 0 --host 127.0.0.1 --log json <extra>` (e.g. extra = ['--workers', '2']). */
  function sockey(label, bin, manifest, env, extra = []) {
    return start(label, [bin, 'serve', manifest, '--port', '0', '--host', '127.0.0.1', '--log', 'json', ...extra], { ...env, SOCKEY_LOG_LEVEL: 'info' }, sockeyReady, sockeyProblem);
  }

  /** `node bench/handwritten.js --port 0 --host 127.0.0.1 <args>` (e.g. ['--sqlite']). */
  function handwritten(label, args, env) {
    return start(label, [path.join(here, 'handwritten.js'), '--port', '0', '--host', '127.0.0.1', ...args], env, listeningReady, stderrProblem);
  }

  async function stopAll() {
    for (const child of registry) child.stop();
    await Promise.all([...registry].map((c) => c.exited));
  }

  return { start, sockey, handwritten, stopAll };
}

import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { RouteTable } from '../compile/table.js';
import type { PlaygroundInfo } from '../core/wire.js';
import type { Readiness } from '../ops/health.js';
import type { LastTick } from './schedules.js';
import { staticFiles, type StaticHandler } from './static-files.js';

/** A schedule's latest tick on this process (the scheduler's; nothing where no scheduler runs). */
export type LastTickOf = (name: string) => LastTick | undefined;

const PLAYGROUND_DIR = fileURLToPath(new URL('../../playground/', import.meta.url));
// The compiled page: dist/playground/playground/src/ (its tsconfig's root is the repository, to share src/core/wire.ts),
// seen from dist/runtime/ (built) or from src/runtime/ (tests, tsx).
const PLAYGROUND_BUILD = [new URL('../playground/playground/src/', import.meta.url), new URL('../../dist/playground/playground/src/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(dir + 'app.js'));

/** What the playground shows of a table: routes, schedules (with their next and latest tick) and the protocol's names. */
export function playgroundInfo(table: RouteTable, lastTick: LastTickOf = () => undefined): PlaygroundInfo {
  const now = Date.now();
  return {
    routes: [...table.routes.values()].map((r) => r.summary),
    schedules: [...table.schedules.values()].map((p) => ({ ...p.summary, next: p.next(now), last: lastTick(p.name) })),
    socket: table.settings.socket,
    auth: { enabled: table.settings.auth.enabled, event: table.settings.auth.event, registerEmail: table.settings.auth.registerEmail },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' }).end(body);
}

const NOT_FOUND = '{"ok":false,"err":"Not found."}';

export interface HttpOptions {
  lastTick?: LastTickOf;
  /** What the built-ins hold now (the playground's `/_sockey/state.json`). */
  state?: () => Record<string, unknown>;
  /** `/readyz`: the database (and Redis) answer. */
  ready?: () => Promise<Readiness>;
  /** `/metrics`, when served on the app's port (`server.metrics: true`). */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * Plain HTTP next to socket.io (which answers /socket.io/ itself): liveness
 * and readiness checks, metrics, the app's static files (server.static) and
 * the playground. Settings are read per request, so a reload that changes them applies.
 */
export function httpHandler(table: () => RouteTable, options: HttpOptions = {}) {
  const { lastTick, state = () => ({}), ready, metrics } = options;
  let app: { dir: string; files: StaticHandler } | undefined;
  // The playground's files follow the same rules as the app's (no dotfiles, no symlinks out).
  const playgroundFiles = staticFiles(PLAYGROUND_DIR);
  const playgroundModules = PLAYGROUND_BUILD ? staticFiles(PLAYGROUND_BUILD) : undefined;

  const playground = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (!table().settings.server.playground) return false;
    if (path === '/' || path === '/_sockey/' || path === '/_sockey') {
      send(res, 200, 'text/html; charset=utf-8', readFileSync(PLAYGROUND_DIR + 'index.html'));
      return true;
    }
    if (path === '/_sockey/routes.json') {
      send(res, 200, 'application/json', JSON.stringify(playgroundInfo(table(), lastTick)));
      return true;
    }
    // What the built-ins hold now (live subscriptions), for the playground.
    if (path === '/_sockey/state.json') {
      send(res, 200, 'application/json', JSON.stringify(state()));
      return true;
    }
    if (!path.startsWith('/_sockey/')) return false;
    const rest = path.slice('/_sockey'.length);
    // The page's modules are compiled to dist/playground/; its other files are in playground/.
    if (rest.endsWith('.js') && !playgroundModules) send(res, 500, 'text/plain', 'playground not built: run npm run build');
    else if (!(await (rest.endsWith('.js') ? playgroundModules! : playgroundFiles)(req, res, rest))) send(res, 404, 'application/json', NOT_FOUND);
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/healthz') {
      send(res, 200, 'application/json', JSON.stringify({ ok: true, version: table().version }));
      return;
    }
    if (req.method === 'GET' && path === '/readyz' && ready) {
      const r = await ready();
      send(res, r.ok ? 200 : 503, 'application/json', JSON.stringify(r));
      return;
    }
    if (path === '/metrics' && metrics) {
      metrics(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'application/json', '{"ok":false,"err":"Method not allowed."}');
      return;
    }
    const dir = table().settings.server.static;
    if (dir !== app?.dir) app = dir ? { dir, files: staticFiles(dir, { html: true }) } : undefined;
    // The app's own files win over the playground at the site root (the playground stays at /_sockey/).
    if (app && !path.startsWith('/_sockey/') && (await app.files(req, res, path))) return;
    if (!(await playground(req, res, path))) send(res, 404, 'application/json', NOT_FOUND);
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else send(res, 500, 'application/json', '{"ok":false,"err":"Internal error."}');
    });
  };
}

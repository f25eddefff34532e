import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';
import type { RouteTable } from '../compile/table.js';

const PLAYGROUND_DIR = fileURLToPath(new URL('../../playground/', import.meta.url));
// The compiled page: dist/playground/, seen from dist/runtime/ (built) or from src/runtime/ (tests, tsx).
const PLAYGROUND_BUILD = [new URL('../playground/', import.meta.url), new URL('../../dist/playground/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(dir + 'app.js'));

/** What the playground shows of a table: routes and the protocol's names. */
export function playgroundInfo(table: RouteTable) {
  return {
    routes: [...table.routes.values()].map((r) => r.summary),
    socket: table.settings.socket,
    auth: { enabled: table.settings.auth.enabled, event: table.settings.auth.event, registerEmail: table.settings.auth.registerEmail },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' }).end(body);
}

/**
 * Plain HTTP next to socket.io (which answers /socket.io/ itself): a health
 * check, the app's static files (server.static) and the playground.
 * Settings are read per request, so a reload that changes them applies.
 */
export function httpHandler(table: () => RouteTable) {
  let staticDir: string | undefined;
  let serveStatic: ReturnType<typeof sirv> | undefined;
  const playgroundFiles = sirv(PLAYGROUND_DIR, { dev: true, etag: true, extensions: [] });

  const playground = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (!table().settings.server.playground) return false;
    if (path === '/' || path === '/_sockey/' || path === '/_sockey') {
      send(res, 200, 'text/html; charset=utf-8', readFileSync(PLAYGROUND_DIR + 'index.html'));
      return true;
    }
    if (path === '/_sockey/routes.json') {
      send(res, 200, 'application/json', JSON.stringify(playgroundInfo(table())));
      return true;
    }
    const module = /^\/_sockey\/([\w.-]+\.js)$/.exec(path);
    if (module) {
      if (!PLAYGROUND_BUILD) send(res, 500, 'text/plain', 'playground not built: run npm run build');
      else if (!existsSync(PLAYGROUND_BUILD + module[1])) send(res, 404, 'application/json', '{"ok":false,"err":"Not found."}');
      else send(res, 200, 'text/javascript; charset=utf-8', readFileSync(PLAYGROUND_BUILD + module[1]));
      return true;
    }
    if (path.startsWith('/_sockey/')) {
      req.url = path.slice('/_sockey'.length);
      playgroundFiles(req, res, () => send(res, 404, 'application/json', '{"ok":false,"err":"Not found."}'));
      return true;
    }
    return false;
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/healthz') {
      send(res, 200, 'application/json', '{"ok":true}');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'application/json', '{"ok":false,"err":"Method not allowed."}');
      return;
    }
    const notFound = () => {
      if (!playground(req, res, path)) send(res, 404, 'application/json', '{"ok":false,"err":"Not found."}');
    };
    const dir = table().settings.server.static;
    if (dir !== staticDir) {
      staticDir = dir;
      serveStatic = dir ? sirv(dir, { dev: true, etag: true, dotfiles: false }) : undefined;
    }
    // The app's own files win over the playground at the site root (the playground stays at /_sockey/).
    if (serveStatic && !path.startsWith('/_sockey/')) serveStatic(req, res, notFound);
    else notFound();
  };
}

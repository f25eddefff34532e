import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteTable } from '../compile/table.js';

/**
 * Plain HTTP next to socket.io: a health check and the route list as JSON.
 * (socket.io answers its own /socket.io/ path before this runs.)
 */
export function httpHandler(table: () => RouteTable) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    if (req.method === 'GET' && url === '/routes.json') {
      const routes = [...table().routes.values()].map((r) => r.summary);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(routes));
      return;
    }
    if (req.method === 'GET' && url === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`sockey is running: ${table().routes.size} routes. Connect with socket.io; GET /routes.json lists them.\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"ok":false,"err":"Not found."}');
  };
}

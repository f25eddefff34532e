import { fileURLToPath } from 'node:url';
import type { ServerPlugin } from '../pipeline/plugin.js';
import { authenticateHandshake, identify, recoverSession } from './identify.js';
import { systemClock, type Clock } from '../core/clock.js';
import { LoginLimiter } from './login-limiter.js';
import { authRoute } from './route.js';
import { SessionIndex } from './session.js';
import type { ClusterLink } from '../cluster/link.js';
import { peerChannel } from '../cluster/peers.js';

/**
 * The built-in auth: the `auth` route (compiled like a user route), its
 * tables, handshake authentication and the identify step for
 * `auth: required | optional` routes. `clock` times login throttling (tests
 * give their own).
 */
export function authPlugin(options: { clock?: Clock } = {}): ServerPlugin {
  const clock = options.clock ?? systemClock;
  const sessions = new SessionIndex(clock);
  let limiter: LoginLimiter | undefined;
  // The cluster's link, from onStart: the limiter then counts failed logins in Redis.
  let link: ClusterLink | undefined;
  return {
    schemaFiles: (dialect, { authEnabled }) => (authEnabled ? [fileURLToPath(new URL(`../../sql/${dialect}/auth.sql`, import.meta.url))] : []),
    builtins(settings, driver) {
      if (!settings.auth.enabled) return undefined;
      const { count, perMs } = settings.auth.loginRateLimit;
      // Kept across reloads, so editing the manifest does not forgive failed logins.
      if (!limiter || limiter.count !== count || limiter.perMs !== perMs) {
        limiter = new LoginLimiter(count, perMs, clock);
        if (link) limiter.shareWith(link);
      }
      sessions.expireAfter(settings.auth.tokenTimeoutMs);
      return { at: ['auth'], routes: { [settings.auth.event]: authRoute(settings, driver, sessions, limiter, clock) } };
    },
    onStart(server) {
      // With cluster: (or workers), a logout, expiry or renewal on one node reaches the session's sockets on every node.
      if (server.cluster || server.peers) sessions.shareWith(peerChannel(server.io, 'sockey:sessions'));
      // Built before the server started (its routes compile first), so given the link now.
      if (server.cluster && !link) {
        link = server.cluster;
        limiter?.shareWith(link);
      }
    },
    identify: (call, payload, server) => identify(call, payload, server.db, server.table.settings, sessions),
    onConnection(socket, state, server) {
      if (!server.table.settings.auth.enabled) return;
      if (socket.recovered) recoverSession(socket, state, server.db, server.table.settings, sessions, server.io, server.log);
      else authenticateHandshake(socket, state, server.db, server.table.settings, sessions);
    },
  };
}

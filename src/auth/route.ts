import type { Call } from '../core/route.js';
import type { Driver } from '../db/driver.js';
import type { Settings } from '../manifest/settings.js';
import type { RawRoute } from '../manifest/types.js';
import { SockeyError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { LoginLimiter } from './login-limiter.js';
import { authParamsSchema } from './params.js';
import { hashPassword, policyProblems, tooLongForBcrypt, verifyPassword } from './passwords.js';
import { verifyToken, type Session, type SessionIndex } from './session.js';
import { storeFor } from './store.js';
import { hashToken, newToken } from './tokens.js';

interface AuthPayload {
  type: 'register' | 'login' | 'logout' | 'check';
  user?: { name?: string; email?: string; password?: string; persistent?: boolean; key?: string };
}

/**
 * The built-in `auth` route: a manifest entry like any other, whose action is
 * a hook given in code. `sockey routes` lists it as built-in.
 */
export function authRoute(settings: Settings, driver: Driver | undefined, sessions: SessionIndex, limiter: LoginLimiter, clock: Clock): RawRoute {
  const auth = settings.auth;
  const handler = async (_ctx: unknown, call: Call) => {
    if (!driver) throw new SockeyError('DB_ERROR');
    // A login sent right after connecting must not be undone by the handshake check finishing later.
    if (call.state.ready) await call.state.ready;
    const store = storeFor(driver);
    const p = call.params as unknown as AuthPayload;
    const user = p.user ?? {};
    switch (p.type) {
      case 'register': {
        const password = user.password!;
        const problems = policyProblems(password, auth.passwordPolicy);
        if (tooLongForBcrypt(password)) problems.push('must be at most 72 bytes');
        if (problems.length) {
          throw new SockeyError(
            'VALIDATION',
            `Invalid parameters: password ${problems.join(' and ')}.`,
            problems.map((message) => ({ path: '/user/password', message })),
          );
        }
        const userId = await store.createUser(user.name!, user.email ?? null, await hashPassword(password, auth.bcryptCost));
        return signIn(call, userId, user.name!, Boolean(user.persistent));
      }
      case 'login': {
        // Names are unique case-insensitively, so their failures are counted so too.
        const attempt = await limiter.attempt(user.name!.toLowerCase(), call.state.address);
        let row: Awaited<ReturnType<typeof store.findUser>>;
        let ok: boolean;
        // bcrypt reads 72 bytes: a longer password never matches (register refuses them).
        const tooLong = tooLongForBcrypt(user.password!);
        try {
          row = await store.findUser(user.name!);
          ok = await verifyPassword(user.password!, tooLong ? undefined : row?.password, auth.bcryptCost);
        } catch (e) {
          await attempt.cancel();
          throw e;
        }
        // The same words whether the name exists or not.
        if (!row || !ok || tooLong) throw new SockeyError('UNAUTHORIZED', 'Wrong name or password.');
        await attempt.succeed();
        return signIn(call, row.id, row.name, Boolean(user.persistent));
      }
      case 'logout': {
        // The socket's own session, or the key presented in the original protocol's way.
        const session = call.state.session as Session | undefined;
        const presented = user.key !== undefined ? await verifyToken(store, user.name, user.key) : undefined;
        for (const keyId of [session?.keyId, presented?.id]) {
          if (keyId === undefined) continue;
          await store.deleteKey(keyId);
          sessions.revoke(keyId);
        }
        sessions.signOut(call.socket, call.state);
        return { loggedOut: true };
      }
      case 'check': {
        const row = await verifyToken(store, user.name, user.key);
        const fresh = row !== undefined && (Boolean(row.persistent) || sessions.isFresh(row.issued_at));
        return { valid: fresh, name: fresh ? row!.name : null };
      }
    }
  };

  async function signIn(call: Call, userId: number | string, name: string, persistent: boolean) {
    const store = storeFor(driver!);
    const token = newToken();
    const now = clock.now();
    const keyId = await store.createKey(userId, hashToken(token), persistent, now);
    sessions.signIn(call.socket, call.state, { keyId, userId, name, persistent, issuedAt: now });
    return { name, token };
  }

  return {
    description: `Built-in auth: { type: register | login | logout | check, user }. Answers on ${auth.event}${settings.socket.data}.`,
    auth: 'none',
    params: authParamsSchema(auth),
    hook: { builtin: 'auth', fn: handler as never },
  };
}

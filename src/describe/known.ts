import type { Settings } from '../manifest/settings.js';
import { arrayOf, booleanShape, literal, named, nullShape, numberShape, objectOf, stringShape, unionOf, unknownShape, type Shape } from './shape.js';

/** The shapes sockey itself answers, whatever the manifest: write counts, presence, the built-in auth and live events. */

export const userIdShape: Shape = unionOf(numberShape, stringShape);

/** `result: affected` (and a write's default). */
export const affectedShape: Shape = named(
  'SockeyAffected',
  objectOf({ affectedRows: numberShape, insertId: unionOf(numberShape, stringShape, nullShape) }),
  'What a write answers (`result: affected`, the default for a write without RETURNING).',
);

export const presenceMemberShape: Shape = named('SockeyPresenceMember', objectOf({ id: userIdShape, name: stringShape }), 'A signed-in user in a presence room.');

/** `res` of `presence.join` / `presence.leave`. */
export const presenceEventShape: Shape = named('SockeyPresenceEvent', objectOf({ room: stringShape, user: presenceMemberShape }), 'Who joined or left a presence room.');

/** A live route's push with `live: { diff }`: the rows new or changed since the socket's last result, and the keys gone. */
export function diffShape(row: Shape): Shape {
  return objectOf({
    diff: objectOf([
      { name: 'changed', shape: arrayOf(row) },
      { name: 'removed', shape: arrayOf(unknownShape) },
      { name: 'reset', shape: literal(true), optional: true, description: 'The socket had no earlier result: `changed` holds every row.' },
    ]),
  });
}

const signedIn = named(
  'SockeyAuthSession',
  objectOf({ name: stringShape, token: stringShape }),
  'A register or login answer: the token signs in later connections (the handshake `auth: { name, token }`).',
);
const renewed = named(
  'SockeyAuthRenewed',
  objectOf({ name: stringShape, token: stringShape, renewed: literal(true) }),
  'Pushed on the auth data event when a persistent login was renewed: keep the new token.',
);
const loggedOut = named('SockeyAuthLoggedOut', objectOf({ loggedOut: literal(true) }));
const checked = named('SockeyAuthCheck', objectOf({ valid: booleanShape, name: unionOf(stringShape, nullShape) }));

/** What an auth call answers (its ack, and the auth data event). */
export const authReplyShape: Shape = named('SockeyAuthReply', unionOf(signedIn, loggedOut, checked));
/** What the auth data event carries: the replies, and renewals. */
export const authPushShape: Shape = unionOf(authReplyShape, renewed);

/** The payload of the auth event, one member per `type`. */
export function authRequestShape(auth: Settings['auth']): Shape {
  const register = objectOf([
    { name: 'name', shape: stringShape, description: `${auth.lengths.username.min} to ${auth.lengths.username.max} letters, digits, _ . -` },
    { name: 'email', shape: stringShape, optional: !auth.registerEmail },
    { name: 'password', shape: stringShape, description: `${auth.lengths.password.min} to ${auth.lengths.password.max} characters` },
    { name: 'persistent', shape: booleanShape, optional: true, description: 'Remember me: the token is renewed instead of expiring.' },
  ]);
  const login = objectOf([
    { name: 'name', shape: stringShape },
    { name: 'password', shape: stringShape },
    { name: 'persistent', shape: booleanShape, optional: true },
  ]);
  const key = objectOf({ name: stringShape, key: stringShape });
  return named(
    'SockeyAuthRequest',
    unionOf(
      objectOf({ type: literal('register'), user: register }),
      objectOf({ type: literal('login'), user: login }),
      objectOf([
        { name: 'type', shape: literal('logout') },
        {
          name: 'user',
          shape: objectOf([
            { name: 'name', shape: stringShape, optional: true },
            { name: 'key', shape: stringShape, optional: true },
          ]),
          optional: true,
        },
      ]),
      objectOf({ type: literal('check'), user: key }),
    ),
    'The built-in auth event: register, login, logout, or check a key.',
  );
}

/** `user: { name, key }` in any payload of an `auth: required | optional` route: the original protocol's per-message credentials. */
export const credentialsShape: Shape = named(
  'SockeyCredentials',
  objectOf([
    { name: 'user', shape: objectOf({ name: stringShape, key: stringShape }), optional: true, description: 'The name and token from register/login (removed before the params are validated).' },
  ]),
);

/** The socket.io handshake `auth` that signs a connection in. */
export const handshakeShape: Shape = named('SockeyHandshakeAuth', objectOf({ name: stringShape, token: stringShape }), 'io(url, { auth: { name, token } }): the token from register or login.');

/** The `live` event's answer. */
export const unsubscribedShape: Shape = objectOf({ unsubscribed: unionOf(literal(0), literal(1)) });

/** Why a live subscription ended (`details.reason` of LIVE_ENDED). */
export const LIVE_ENDED_REASONS = ['signed-out', 'forbidden', 'removed', 'changed', 'failed', 'limit'] as const;

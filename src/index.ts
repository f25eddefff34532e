/**
 * `sockey`: what hook authors import. Types, `SockeyError` and `defineHook`,
 * and nothing of the server (embedding it is `sockey/server`).
 *
 * @example
 * import { SockeyError, type HookContext } from 'sockey';
 * export async function stats(ctx: HookContext<{ room: string }>) { ... }
 */
import type { Hook } from './core/hook.js';
import type { AuthUser } from './core/route.js';

export type { EmitTarget, Hook, HookContext, HookDb, HookTimers, HookTransaction, Row, SignedInHookContext, WriteResult } from './core/hook.js';
export type { AuthUser } from './core/route.js';
export type { DataEnvelope, ErrorEnvelope } from './core/envelope.js';
export { SockeyError, ERROR_CODES, type ErrorCode } from './core/errors.js';

/**
 * Types a hook by its params (and, for `auth: required` routes, a non-null user):
 * `export const stats = defineHook<{ room: string }>(async (ctx) => ...)`.
 */
export function defineHook<P = Record<string, unknown>, R = unknown, Auth extends AuthUser | null = AuthUser | null>(hook: Hook<P, R, Auth>): Hook<P, R, Auth> {
  return hook;
}

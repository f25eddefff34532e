import type { Socket as ClientSocket } from 'socket.io-client';
import { expect } from 'vitest';
import { call } from './util.js';

/** The routes of the presence tests, one process and cluster (without database:). */
export const PRESENCE_ROUTES = `
auth: { bcryptCost: 4 }
routes:
  boards.open:
    auth: optional
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    join: { room: "board:{{params.board}}", presence: true }
    reply: { opened: "{{params.board}}" }
  boards.leave:
    auth: optional
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    leave: "board:{{params.board}}"
    reply: { left: "{{params.board}}" }
  boards.plain:
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    join: ["board:{{params.board}}", { room: "side:{{params.board}}" }]
    reply: { joined: "{{params.board}}" }
  boards.who:
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    presence: "board:{{params.board}}"
  ping:
    reply: { pong: true }
    emit: all
  me:
    auth: required
    reply: { id: "{{auth.id}}" }
  boards.count:
    params: { type: object, properties: { board: { type: integer } }, required: [board] }
    presence: "board:{{params.board}}"
    reply: { members: "{{res}}" }
`;

export async function register(socket: ClientSocket, name: string): Promise<{ id: number; token: string }> {
  const r = await call(socket, 'auth', { type: 'register', user: { name, email: `${name}@example.com`, password: 'pa55!word' } });
  expect(r.ok).toBe(true);
  const me = await call(socket, 'me');
  return { id: (me.res as { id: number }).id, token: (r.res as { token: string }).token };
}

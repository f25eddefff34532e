import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, serve } from './support/child.js';
import { disconnectClients, nodeClient, startCluster, type TestCluster } from './support/cluster.js';
import { eventually } from './support/flow.js';
import { call, tempApp } from './support/util.js';

/** SPEC §8: SIGTERM drains (real `sockey serve` processes). */
const SLOW = `export async function slow(ctx) {
  await new Promise((r) => setTimeout(r, ctx.params.ms));
  return { slept: ctx.params.ms };
}
`;
const manifest = (drain: string) => `version: 1
server: { drainTimeout: ${drain} }
database: { file: ./db.sqlite }
routes:
  slow:
    params: { type: object, properties: { ms: { type: integer } }, required: [ms] }
    hook: ./slow.mjs#slow
  echo: { reply: { ok: 1 } }
`;

const cleanup: Array<() => unknown> = [];
let cluster: TestCluster | undefined;
afterEach(async () => {
  disconnectClients();
  await cluster?.close();
  cluster = undefined;
  for (const f of cleanup.splice(0)) await f();
  killAll();
});

describe('SIGTERM drains (SPEC §8)', { timeout: 60_000 }, () => {
  it('refuses new connections and answers new messages UNAVAILABLE, lets the message under way finish and ack, then closes the sockets and exits 0', async () => {
    const app = tempApp({ 'sockey.yaml': manifest('10s'), 'slow.mjs': SLOW });
    cleanup.push(app.cleanup);
    const node = await serve(['--port', '0', '--no-watch'], app.dir);
    const s = await nodeClient(node.url);
    const reason = new Promise<string>((resolve) => s.once('disconnect', resolve));
    const told = new Promise<unknown>((resolve) => s.once('sockey:shutdown', resolve));
    const underWay = call(s, 'slow', { ms: 1500 }, 10_000);
    // The hook is running when the signal comes.
    await new Promise((r) => setTimeout(r, 200));
    const exited = node.stop(15_000);
    await eventually(
      () => node.grep('SIGTERM: closing').length,
      (n) => n === 1,
      'the drain to start',
    );
    expect(await call(s, 'echo', {})).toEqual({ ok: false, err: 'The server is shutting down: try again (another node will answer).', res: false, code: 'UNAVAILABLE' });
    const late = connect(node.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    cleanup.push(() => late.disconnect());
    const refused = await new Promise<string>((resolve) => {
      late.once('connect', () => resolve('connected'));
      late.once('connect_error', (e) => resolve(`refused: ${e.message}`));
    });
    expect(refused).toMatch(/^refused/);
    expect(await underWay).toEqual({ ok: true, err: false, res: { slept: 1500 } });
    // A transport close, not a server disconnect: socket.io-client reconnects by itself (to another node behind a balancer).
    expect(await told).toEqual({ ok: false, err: 'The server is shutting down: reconnecting (another node will answer).', res: false, code: 'UNAVAILABLE', details: { reconnect: true } });
    expect(await reason).toBe('transport close');
    expect(await exited).toBe(0);
    expect(node.grep('closed')).toHaveLength(1);
  });

  it('server.drainTimeout bounds the wait: a message still under way then is cut off, with a warning, and the process still exits 0', async () => {
    const app = tempApp({ 'sockey.yaml': manifest('300ms'), 'slow.mjs': SLOW });
    cleanup.push(app.cleanup);
    const node = await serve(['--port', '0', '--no-watch'], app.dir);
    const s = await nodeClient(node.url);
    void call(s, 'slow', { ms: 20_000 }, 30_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const from = Date.now();
    expect(await node.stop(15_000)).toBe(0);
    expect(Date.now() - from).toBeLessThan(5000);
    expect(node.grep('drain: 1 message(s) still under way after 300 ms; closing anyway')).toHaveLength(1);
  });

  it('a node stopped under load loses no acked write: every ok ack is a row, every row was acked, and no call goes unanswered', async () => {
    cluster = await startCluster(
      2,
      `server: { drainTimeout: 10s }
routes:
  notes.add:
    params: { type: object, properties: { body: { type: string } }, required: [body] }
    sql: INSERT INTO notes (body) VALUES (:body)
`,
      { 'schema.sql': 'CREATE TABLE IF NOT EXISTS notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100) NOT NULL UNIQUE) ENGINE=InnoDB;\n' },
    );
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const acked: string[] = [];
    const refused: string[] = [];
    const unanswered: string[] = [];
    let running = true;
    // Each client writes in a loop on node A; when A closes it, it goes on on node B (as behind a balancer).
    const loops = Array.from({ length: 8 }, async (_, c) => {
      let socket: ClientSocket = await nodeClient(a.url);
      for (let k = 0; running; k++) {
        if (!socket.connected) socket = await nodeClient(b.url);
        const body = `c${c}-${k}`;
        try {
          const r = (await socket.timeout(5000).emitWithAck('notes.add', { body })) as { ok: boolean; code?: string };
          if (r.ok) acked.push(body);
          else if (r.code === 'UNAVAILABLE') refused.push(body);
          else unanswered.push(`${body}: ${r.code}`);
        } catch {
          // No ack: only acceptable when the socket was already gone before the call was sent.
          if (socket.connected) unanswered.push(`${body}: no ack`);
        }
      }
    });
    await eventually(
      () => acked.length,
      (n) => n >= 200,
      '200 writes',
      20_000,
    );
    expect(await a.stop(15_000)).toBe(0);
    const after = acked.length;
    await eventually(
      () => acked.length,
      (n) => n >= after + 100,
      'writes on node B',
      20_000,
    );
    running = false;
    await Promise.all(loops);
    const db = await mysql.createConnection(dbUrlOf(cluster));
    const [rows] = await db.query('SELECT body FROM notes');
    await db.end();
    const stored = new Set((rows as Array<{ body: string }>).map((r) => r.body));
    console.log(`[drain] ${acked.length} acked, ${refused.length} answered UNAVAILABLE while node A drained, ${unanswered.length} unanswered`);
    expect(unanswered).toEqual([]);
    expect(acked.filter((x) => !stored.has(x))).toEqual([]);
    expect([...stored].filter((x) => !acked.includes(x))).toEqual([]);
  });
});

/** The MariaDB URL the cluster's nodes use (from its manifest). */
function dbUrlOf(c: TestCluster): string {
  const text = readFileSync(`${c.dir}/sockey.yaml`, 'utf8');
  return /url: "([^"]+)"/.exec(text)![1]!;
}

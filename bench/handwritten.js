#!/usr/bin/env node
// The benchmark's baseline: the two events of bench/sockey.bench.yaml written by
// hand with socket.io + mysql2 + ajv, the way a competent developer would.
//
//   BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/db node bench/handwritten.js --port 0
//
// Prints `listening on <port>` on stdout when ready; closes on SIGINT/SIGTERM.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import AjvModule from 'ajv';
import mysql from 'mysql2/promise';
import { Server } from 'socket.io';

const Ajv = AjvModule.default ?? AjvModule;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  process.exit(2);
}
const url = process.env.BENCH_MYSQL_URL;
if (!url) {
  console.error('BENCH_MYSQL_URL is not set (mysql://user:password@host:port/database)');
  process.exit(2);
}

// Validators compiled once at start: the same rules as the manifest.
const ajv = new Ajv({ allErrors: true });
const validateEcho = ajv.compile({
  type: 'object',
  properties: { text: { type: 'string', maxLength: 1000 } },
  required: ['text'],
  additionalProperties: false,
});
const validateUserGet = ajv.compile({
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 } },
  required: ['id'],
});

const pool = mysql.createPool({ uri: url, connectionLimit: 10, waitForConnections: true });
const USER_GET = 'SELECT id, name, email FROM bench_users WHERE id = ?';

const ok = (res) => ({ ok: true, err: false, res });
const fail = (code, err) => ({ ok: false, err, res: false, code });
const invalid = (validate) => fail('VALIDATION', `Invalid parameters: ${ajv.errorsText(validate.errors, { dataVar: 'payload' })}.`);

const http = createServer();
const io = new Server(http, { cors: { origin: '*' } });

io.on('connection', (socket) => {
  // Replies through the ack when the client gave one, else on <event>_data / <event>_error.
  const answer = (event, ack, envelope) => {
    if (typeof ack === 'function') ack(envelope);
    else socket.emit(event + (envelope.ok ? '_data' : '_error'), envelope);
  };

  socket.on('echo', (payload, ack) => {
    if (!validateEcho(payload)) return answer('echo', ack, invalid(validateEcho));
    answer('echo', ack, ok(payload));
  });

  socket.on('user.get', async (payload, ack) => {
    if (!validateUserGet(payload)) return answer('user.get', ack, invalid(validateUserGet));
    try {
      const [rows] = await pool.execute(USER_GET, [payload.id]);
      answer('user.get', ack, ok(rows[0] ?? null));
    } catch (e) {
      console.error(`user.get failed: ${e.message}`);
      answer('user.get', ack, fail('DB_ERROR', 'Database error.'));
    }
  });
});

http.listen(port, values.host, () => {
  process.stdout.write(`listening on ${http.address().port}\n`);
});

let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  io.close(() => {
    pool.end().finally(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGINT', close);
process.on('SIGTERM', close);

#!/usr/bin/env node
// The benchmark's baseline: the events of bench/sockey.bench.yaml written by hand with
// socket.io + mysql2 + ajv, the way a competent developer would. With --sqlite it is
// the baseline of bench/sockey.sqlite.bench.yaml instead: user.get and board.cards on
// better-sqlite3 (and the same in-memory auth).
//
//   BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/db node bench/handwritten.js --port 0
//   BENCH_SQLITE_FILE=/tmp/bench.db node bench/handwritten.js --sqlite --port 0
//
// Prints `listening on <port>` on stdout when ready; closes on SIGINT/SIGTERM.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import AjvModule from 'ajv';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { Server } from 'socket.io';

const Ajv = AjvModule.default ?? AjvModule;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    sqlite: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  process.exit(2);
}
const url = process.env.BENCH_MYSQL_URL;
const sqliteFile = process.env.BENCH_SQLITE_FILE;
if (values.sqlite ? !sqliteFile : !url) {
  console.error(values.sqlite ? 'BENCH_SQLITE_FILE is not set (the SQLite file with bench_users)' : 'BENCH_MYSQL_URL is not set (mysql://user:password@host:port/database)');
  process.exit(2);
}

// Validators compiled once at start: the same rules as the manifest.
const ajv = new Ajv({ allErrors: true });
const validateText = ajv.compile({
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
const validateObject = ajv.compile({ type: 'object' }); // a route without params: any object
const validateSum = ajv.compile({
  type: 'object',
  properties: { a: { type: 'number' }, b: { type: 'number' } },
  required: ['a', 'b'],
  additionalProperties: false,
});
const validateInsert = ajv.compile({
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 }, body: { type: 'string', maxLength: 255 } },
  required: ['id', 'body'],
  additionalProperties: false,
});
const validateBoard = ajv.compile({
  type: 'object',
  properties: { board: { type: 'integer', minimum: 1 } },
  required: ['board'],
  additionalProperties: false,
});
const validateAuth = ajv.compile({
  type: 'object',
  properties: {
    type: { enum: ['register', 'login'] },
    user: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 3, maxLength: 32 }, password: { type: 'string', minLength: 5, maxLength: 60 } },
      required: ['name', 'password'],
    },
  },
  required: ['type', 'user'],
});

const USER_GET = 'SELECT id, name, email FROM bench_users WHERE id = ?';
const INSERT_EVENT = 'INSERT INTO bench_events (user_id, body) VALUES (?, ?)';
// board.cards: the guard, then the cards (the same two statements as sockey's board.cards).
const IS_MEMBER = 'SELECT 1 FROM members WHERE board_id = ? AND user_id = ?';
const BOARD_CARDS = 'SELECT id, title FROM cards WHERE board_id = ? ORDER BY id LIMIT 10';
const ROOM = 'r';
const SESSION_MS = 86_400_000; // as sockey's default tokenTimeout

const ok = (res) => ({ ok: true, err: false, res });
const fail = (code, err) => ({ ok: false, err, res: false, code });
const invalid = (validate) => fail('VALIDATION', `Invalid parameters: ${ajv.errorsText(validate.errors, { dataVar: 'payload' })}.`);

// mysql2's defaults, as most apps use it (trace: true captures a stack per query; sockey turns
// that off). BENCH_HAND_TRACE=0 turns it off here too, to compare sockey's own overhead alone.
const trace = !['0', 'false'].includes(process.env.BENCH_HAND_TRACE ?? '');
const pool = values.sqlite ? undefined : mysql.createPool({ uri: url, connectionLimit: 10, waitForConnections: true, trace });
let sqlite;
let userById;
let isMember;
let boardCards;
if (values.sqlite) {
  sqlite = new Database(sqliteFile);
  sqlite.pragma('journal_mode = WAL');
  userById = sqlite.prepare(USER_GET);
  isMember = sqlite.prepare(IS_MEMBER);
  boardCards = sqlite.prepare(BOARD_CARDS);
}

// Accounts and sessions in memory: signing in is setup, never measured. A session is
// the user of a socket, looked up on every auth-only event.
const accounts = new Map(); // lower-cased name -> { id, name, hash }
const sessions = new Map(); // socket.id -> { id, name, issuedAt }
let nextUserId = 1;

const http = createServer();
const io = new Server(http, { cors: { origin: '*' } });

/** The signed-in user of a socket, or the error envelope to answer (as whoami's checks). */
function sessionOf(socket) {
  const user = sessions.get(socket.id);
  if (!user) return fail('UNAUTHORIZED', 'Not signed in.');
  if (Date.now() - user.issuedAt > SESSION_MS) {
    sessions.delete(socket.id);
    return fail('UNAUTHORIZED', 'Logged out.');
  }
  return user;
}

io.on('connection', (socket) => {
  // Replies through the ack when the client gave one, else on <event>_data / <event>_error.
  const answer = (event, ack, envelope) => {
    if (typeof ack === 'function') ack(envelope);
    else socket.emit(event + (envelope.ok ? '_data' : '_error'), envelope);
  };

  socket.on('disconnect', () => sessions.delete(socket.id));

  socket.on('auth', async (payload, ack) => {
    if (!validateAuth(payload)) return answer('auth', ack, invalid(validateAuth));
    const { name, password } = payload.user;
    const key = name.toLowerCase();
    let account = accounts.get(key);
    if (payload.type === 'register') {
      if (account) return answer('auth', ack, fail('CONFLICT', 'That name is taken.'));
      account = { id: nextUserId++, name, hash: await bcrypt.hash(password, 4) };
      accounts.set(key, account);
    } else if (!account || !(await bcrypt.compare(password, account.hash))) {
      return answer('auth', ack, fail('UNAUTHORIZED', 'Wrong name or password.'));
    }
    if (!socket.connected) return;
    sessions.set(socket.id, { id: account.id, name: account.name, issuedAt: Date.now() });
    answer('auth', ack, ok({ name: account.name, token: randomBytes(32).toString('base64url') }));
  });

  socket.on('whoami', (payload, ack) => {
    const user = sessions.get(socket.id);
    if (!user) return answer('whoami', ack, fail('UNAUTHORIZED', 'Not signed in.'));
    if (Date.now() - user.issuedAt > SESSION_MS) {
      sessions.delete(socket.id);
      return answer('whoami', ack, fail('UNAUTHORIZED', 'Logged out.'));
    }
    if (!validateObject(payload ?? {})) return answer('whoami', ack, invalid(validateObject));
    answer('whoami', ack, ok({ id: user.id, name: user.name }));
  });

  if (values.sqlite) {
    socket.on('user.get', (payload, ack) => {
      if (!validateUserGet(payload)) return answer('user.get', ack, invalid(validateUserGet));
      let row;
      try {
        row = userById.get(payload.id);
      } catch (e) {
        console.error(`user.get failed: ${e.message}`);
        return answer('user.get', ack, fail('DB_ERROR', 'Database error.'));
      }
      answer('user.get', ack, ok(row ?? null));
    });

    // The session, the params, the membership check, then the cards.
    socket.on('board.cards', (payload, ack) => {
      const user = sessionOf(socket);
      if (user.ok === false) return answer('board.cards', ack, user);
      if (!validateBoard(payload)) return answer('board.cards', ack, invalid(validateBoard));
      let rows;
      try {
        if (isMember.get(payload.board, user.id) === undefined) return answer('board.cards', ack, fail('FORBIDDEN', 'Forbidden.'));
        rows = boardCards.all(payload.board);
      } catch (e) {
        console.error(`board.cards failed: ${e.message}`);
        return answer('board.cards', ack, fail('DB_ERROR', 'Database error.'));
      }
      answer('board.cards', ack, ok(rows));
    });
    return;
  }

  socket.on('echo', (payload, ack) => {
    if (!validateText(payload)) return answer('echo', ack, invalid(validateText));
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

  // The session, the params, the membership check (one prepared statement), then the cards (another).
  socket.on('board.cards', async (payload, ack) => {
    const user = sessionOf(socket);
    if (user.ok === false) return answer('board.cards', ack, user);
    if (!validateBoard(payload)) return answer('board.cards', ack, invalid(validateBoard));
    try {
      const [member] = await pool.execute(IS_MEMBER, [payload.board, user.id]);
      if (member.length === 0) return answer('board.cards', ack, fail('FORBIDDEN', 'Forbidden.'));
      const [rows] = await pool.execute(BOARD_CARDS, [payload.board]);
      answer('board.cards', ack, ok(rows));
    } catch (e) {
      console.error(`board.cards failed: ${e.message}`);
      answer('board.cards', ack, fail('DB_ERROR', 'Database error.'));
    }
  });

  socket.on('room.join', async (payload, ack) => {
    if (!validateObject(payload ?? {})) return answer('room.join', ack, invalid(validateObject));
    await socket.join(ROOM);
    answer('room.join', ack, ok({ joined: ROOM }));
  });

  socket.on('room.send', (payload, ack) => {
    if (!validateText(payload)) return answer('room.send', ack, invalid(validateText));
    const envelope = ok(payload);
    io.to(ROOM).emit('room.send_data', envelope);
    answer('room.send', ack, envelope);
  });

  socket.on('sum', (payload, ack) => {
    if (!validateSum(payload)) return answer('sum', ack, invalid(validateSum));
    answer('sum', ack, ok({ sum: payload.a + payload.b }));
  });

  socket.on('events.insert', async (payload, ack) => {
    if (!validateInsert(payload)) return answer('events.insert', ack, invalid(validateInsert));
    try {
      const [result] = await pool.execute(INSERT_EVENT, [payload.id, payload.body]);
      answer('events.insert', ack, ok({ affectedRows: result.affectedRows, insertId: result.insertId }));
    } catch (e) {
      console.error(`events.insert failed: ${e.message}`);
      answer('events.insert', ack, fail('DB_ERROR', 'Database error.'));
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
    sqlite?.close();
    (pool ? pool.end() : Promise.resolve()).finally(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGINT', close);
process.on('SIGTERM', close);

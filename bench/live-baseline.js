#!/usr/bin/env node
// The live-query benchmark's baseline (bench/live.js): bench/sockey.live.bench.yaml's two
// events written by hand with socket.io + mysql2 (or better-sqlite3 with --sqlite) + ajv,
// kept live the way Hasura keeps its live queries: multiplexed polling.
//
//   cards.live { board }         replies the board's current cards and subscribes the socket
//   cards.add { board, title }   the INSERT, acked with { affectedRows, insertId }
//
// Subscriptions with the same params (board) form one cohort. Every --poll-ms (1000, as
// Hasura's default refetch interval) the poller re-reads every cohort that has
// subscribers, --batch (100, as Hasura's default multiplexed batch size) cohorts per SQL
// statement (`... WHERE board_id IN (?, ...) ORDER BY board_id, id`, Hasura's
// multiplexed query in plain SQL), hashes each cohort's result and pushes it on
// cards.live_data to that board's subscribers only when the hash changed. Writes do not
// trigger anything: an update waits for the next poll.
//
//   BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/db node bench/live-baseline.js --port 0
//   BENCH_SQLITE_FILE=/tmp/live.db node bench/live-baseline.js --sqlite --port 0
//
// GET /_sockey/state.json answers { live: { stats: { subscriptions, groups, reruns,
// statements, polls, pushes } } } as sockey's playground does: `reruns` counts cohorts
// re-read (one per subscribed board per poll), `statements` the SQL statements that read them.
// Prints `listening on <port>` on stdout when ready; closes on SIGINT/SIGTERM.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import AjvModule from 'ajv';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { Server } from 'socket.io';

const Ajv = AjvModule.default ?? AjvModule;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    sqlite: { type: 'boolean', default: false },
    'poll-ms': { type: 'string', default: '1000' },
    batch: { type: 'string', default: '100' },
  },
});
const port = Number(values.port);
const pollMs = Number(values['poll-ms']);
const batch = Number(values.batch);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  process.exit(2);
}
if (!(pollMs >= 10) || !Number.isInteger(batch) || batch < 1) {
  console.error(`--poll-ms must be at least 10 and --batch a positive integer, got "${values['poll-ms']}" and "${values.batch}"`);
  process.exit(2);
}
const url = process.env.BENCH_MYSQL_URL;
const sqliteFile = process.env.BENCH_SQLITE_FILE;
if (values.sqlite ? !sqliteFile : !url) {
  console.error(values.sqlite ? 'BENCH_SQLITE_FILE is not set (the SQLite file with cards)' : 'BENCH_MYSQL_URL is not set (mysql://user:password@host:port/database)');
  process.exit(2);
}

// Validators compiled once at start: the same rules as the manifest.
const ajv = new Ajv({ allErrors: true });
const validateLive = ajv.compile({
  type: 'object',
  properties: { board: { type: 'integer', minimum: 1 } },
  required: ['board'],
  additionalProperties: false,
});
const validateAdd = ajv.compile({
  type: 'object',
  properties: { board: { type: 'integer', minimum: 1 }, title: { type: 'string', maxLength: 100 } },
  required: ['board', 'title'],
  additionalProperties: false,
});

const BOARD_CARDS = 'SELECT id, title FROM cards WHERE board_id = ? ORDER BY id';
const ADD_CARD = 'INSERT INTO cards (board_id, title) VALUES (?, ?)';
/** The multiplexed read of `n` cohorts: one statement, rows of all their boards. */
const batchSql = (n) => `SELECT board_id, id, title FROM cards WHERE board_id IN (${new Array(n).fill('?').join(', ')}) ORDER BY board_id, id`;

const ok = (res) => ({ ok: true, err: false, res });
const fail = (code, err) => ({ ok: false, err, res: false, code });
const invalid = (validate) => fail('VALIDATION', `Invalid parameters: ${ajv.errorsText(validate.errors, { dataVar: 'payload' })}.`);
const digest = (rows) => createHash('sha1').update(JSON.stringify(rows)).digest('base64');

// mysql2's defaults (as bench/handwritten.js; BENCH_HAND_TRACE=0 turns the per-query stack capture off).
const trace = !['0', 'false'].includes(process.env.BENCH_HAND_TRACE ?? '');
const pool = values.sqlite ? undefined : mysql.createPool({ uri: url, connectionLimit: 10, waitForConnections: true, trace });
let sqlite;
let boardCards;
let addCard;
const batchStatements = new Map(); // SQLite: cohorts per statement -> prepared statement
if (values.sqlite) {
  sqlite = new Database(sqliteFile);
  sqlite.pragma('journal_mode = WAL');
  boardCards = sqlite.prepare(BOARD_CARDS);
  addCard = sqlite.prepare(ADD_CARD);
}

/** The cards of each board, in id order, as the subscribers get them ({ id, title }). */
async function readBoards(boards) {
  let rows;
  if (sqlite) {
    let statement = batchStatements.get(boards.length);
    if (!statement) batchStatements.set(boards.length, (statement = sqlite.prepare(batchSql(boards.length))));
    rows = statement.all(...boards);
  } else {
    [rows] = await pool.execute(batchSql(boards.length), boards);
  }
  const byBoard = new Map(boards.map((b) => [b, []]));
  for (const r of rows) byBoard.get(r.board_id)?.push({ id: r.id, title: r.title });
  return byBoard;
}

// board -> { room, sockets: Set<socket id>, hash of the last result pushed (or replied when it formed) }
const cohorts = new Map();
const stats = { subscriptions: 0, groups: 0, reruns: 0, statements: 0, polls: 0, pushes: 0 };
const roomOf = (board) => `cards.live:${board}`;

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_sockey/state.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(JSON.stringify({ live: { stats } }));
  } else {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"ok":false,"err":"Not found."}');
  }
});
const io = new Server(http, { cors: { origin: '*' } });

function unsubscribe(socket, board) {
  const cohort = cohorts.get(board);
  if (!cohort?.sockets.delete(socket.id)) return;
  stats.subscriptions--;
  if (cohort.sockets.size === 0) {
    cohorts.delete(board);
    stats.groups--;
  }
}

io.on('connection', (socket) => {
  // Replies through the ack when the client gave one, else on <event>_data / <event>_error.
  const answer = (event, ack, envelope) => {
    if (typeof ack === 'function') ack(envelope);
    else socket.emit(event + (envelope.ok ? '_data' : '_error'), envelope);
  };
  const boards = new Set(); // this socket's subscriptions

  socket.on('disconnect', () => {
    for (const board of boards) unsubscribe(socket, board);
  });

  socket.on('cards.live', async (payload, ack) => {
    if (!validateLive(payload)) return answer('cards.live', ack, invalid(validateLive));
    const { board } = payload;
    let rows;
    try {
      rows = sqlite ? boardCards.all(board) : (await pool.execute(BOARD_CARDS, [board]))[0];
    } catch (e) {
      console.error(`cards.live failed: ${e.message}`);
      return answer('cards.live', ack, fail('DB_ERROR', 'Database error.'));
    }
    if (!socket.connected) return;
    let cohort = cohorts.get(board);
    if (!cohort) {
      cohorts.set(board, (cohort = { room: roomOf(board), sockets: new Set(), hash: digest(rows) }));
      stats.groups++;
    }
    if (!cohort.sockets.has(socket.id)) {
      cohort.sockets.add(socket.id);
      stats.subscriptions++;
      boards.add(board);
      socket.join(cohort.room);
    }
    answer('cards.live', ack, ok(rows));
  });

  socket.on('cards.add', async (payload, ack) => {
    if (!validateAdd(payload)) return answer('cards.add', ack, invalid(validateAdd));
    try {
      if (sqlite) {
        const r = addCard.run(payload.board, payload.title);
        return answer('cards.add', ack, ok({ affectedRows: r.changes, insertId: Number(r.lastInsertRowid) }));
      }
      const [r] = await pool.execute(ADD_CARD, [payload.board, payload.title]);
      answer('cards.add', ack, ok({ affectedRows: r.affectedRows, insertId: r.insertId }));
    } catch (e) {
      console.error(`cards.add failed: ${e.message}`);
      answer('cards.add', ack, fail('DB_ERROR', 'Database error.'));
    }
  });
});

/** One poll: every subscribed cohort re-read, `batch` per statement (the batches concurrently, as Hasura runs them); a push per changed cohort. */
async function poll() {
  const boards = [...cohorts.keys()];
  if (boards.length === 0) return;
  stats.polls++;
  const batches = [];
  for (let i = 0; i < boards.length; i += batch) batches.push(boards.slice(i, i + batch));
  await Promise.all(
    batches.map(async (some) => {
      let byBoard;
      try {
        byBoard = await readBoards(some);
      } catch (e) {
        console.error(`live poll failed: ${e.message}`);
        return;
      }
      stats.statements++;
      stats.reruns += some.length;
      for (const [board, rows] of byBoard) {
        const cohort = cohorts.get(board);
        if (!cohort) continue;
        const hash = digest(rows);
        if (hash === cohort.hash) continue;
        cohort.hash = hash;
        io.to(cohort.room).emit('cards.live_data', ok(rows));
        stats.pushes += cohort.sockets.size;
      }
    }),
  );
}

// Fixed-rate polling: the next poll starts pollMs after the last one started (at once when it overran).
let pollTimer;
const schedule = (startedAt) => {
  pollTimer = setTimeout(
    () => {
      const now = Date.now();
      void poll().finally(() => closing || schedule(now));
    },
    Math.max(0, startedAt + pollMs - Date.now()),
  );
};
let closing = false;
schedule(Date.now());

http.listen(port, values.host, () => {
  process.stdout.write(`listening on ${http.address().port}\n`);
});

const close = () => {
  if (closing) return;
  closing = true;
  clearTimeout(pollTimer);
  io.close(() => {
    sqlite?.close();
    (pool ? pool.end() : Promise.resolve()).finally(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGINT', close);
process.on('SIGTERM', close);

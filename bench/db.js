// The benchmarks' data (bench/run.js, bench/workers.js): a throw-away MariaDB database
// and a temp SQLite file with the same rows, and what a bench_users row must look like.
//
//   bench_users (id, name, email)   USERS rows: user<id>, user<id>@example.com
//   bench_events (id, user_id, body) empty (the insert scenario fills it)
//   cards (id, board_id, title)     BOARDS boards of CARDS_PER_BOARD cards, index (board_id, id)
//   members (board_id, user_id)     empty (the guarded scenarios' setup fills it)
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';

export const USERS = 10_000;
// Card ids of board b: (b - 1) * CARDS_PER_BOARD + 1, ...
export const BOARDS = 1000;
export const CARDS_PER_BOARD = 20;

export const randomUser = () => 1 + Math.floor(Math.random() * USERS);
const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
/** The reply of `user.get` for params `p`: exactly that user's row. */
export const userRow = (p, res) => isObject(res) && res.id === p.id && res.name === `user${p.id}` && res.email === `user${p.id}@example.com` && Object.keys(res).length === 3;

/** [id, board_id, title] of every card. */
export function allCards() {
  const rows = [];
  for (let board = 1; board <= BOARDS; board++) for (let k = 1; k <= CARDS_PER_BOARD; k++) rows.push([(board - 1) * CARDS_PER_BOARD + k, board, `board ${board} card ${k}`]);
  return rows;
}

/**
 * Creates a database `<prefix>_<random>` on the server of `rootUrl` (an account that may
 * create databases). `created(db)` gets `{ name, url, drop() }` as soon as it exists,
 * before `schema(conn)` fills it on a connection that uses it, so that an interrupted run
 * can still drop it. Resolves with `{ name, url, drop() }`, `url` the same account on it.
 */
export async function createDatabase(rootUrl, { prefix = 'sockey_bench', created = () => {}, schema = async () => {} } = {}) {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const server = new URL(rootUrl);
  server.pathname = '/';
  const url = new URL(rootUrl);
  url.pathname = `/${name}`;
  const db = {
    name,
    url: url.toString(),
    async drop() {
      const c = await mysql.createConnection({ uri: server.toString(), connectTimeout: 5000 });
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
  const conn = await mysql.createConnection({ uri: server.toString(), connectTimeout: 5000 });
  try {
    await conn.query(`CREATE DATABASE \`${name}\``);
    created(db);
    await conn.query(`USE \`${name}\``);
    await schema(conn);
  } finally {
    await conn.end();
  }
  return db;
}

/** The database of bench/run.js and bench/workers.js: bench_users, bench_events, the boards' cards and members (see above). */
export function createMariaDb(rootUrl, onCreated = () => {}) {
  return createDatabase(rootUrl, {
    created: onCreated,
    schema: async (conn) => {
      await conn.query(`CREATE TABLE bench_users (
        id INT UNSIGNED NOT NULL PRIMARY KEY,
        name VARCHAR(64) NOT NULL,
        email VARCHAR(128) NOT NULL
      ) ENGINE=InnoDB`);
      await conn.query(`CREATE TABLE bench_events (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        user_id INT UNSIGNED NOT NULL,
        body VARCHAR(255) NOT NULL
      ) ENGINE=InnoDB`);
      await conn.query(`CREATE TABLE cards (
        id INT UNSIGNED NOT NULL PRIMARY KEY,
        board_id INT UNSIGNED NOT NULL,
        title VARCHAR(100) NOT NULL,
        KEY cards_board (board_id, id)
      ) ENGINE=InnoDB`);
      await conn.query(`CREATE TABLE members (
        board_id INT UNSIGNED NOT NULL,
        user_id INT UNSIGNED NOT NULL,
        PRIMARY KEY (board_id, user_id)
      ) ENGINE=InnoDB`);
      for (let start = 1; start <= USERS; start += 1000) {
        const rows = [];
        for (let id = start; id < start + 1000 && id <= USERS; id++) rows.push([id, `user${id}`, `user${id}@example.com`]);
        await conn.query('INSERT INTO bench_users (id, name, email) VALUES ?', [rows]);
      }
      const cards = allCards();
      for (let start = 0; start < cards.length; start += 1000) await conn.query('INSERT INTO cards (id, board_id, title) VALUES ?', [cards.slice(start, start + 1000)]);
      const [[{ n }]] = await conn.query('SELECT COUNT(*) AS n FROM bench_users');
      if (Number(n) !== USERS) throw new Error(`bench_users has ${n} rows, expected ${USERS}`);
    },
  });
}

/**
 * A temp SQLite file `$TMPDIR/sockey_bench_<random>.db` (WAL) with the same bench_users
 * and cards rows and an empty members table. `onCreated(file)` gets its path before it
 * is filled. Returns the path; removeSqliteFile(path) removes it and its side files.
 */
export function createSqliteFile(onCreated = () => {}) {
  const file = path.join(os.tmpdir(), `sockey_bench_${randomBytes(5).toString('hex')}.db`);
  onCreated(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE bench_users (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)');
    db.exec('CREATE TABLE cards (id INTEGER NOT NULL PRIMARY KEY, board_id INTEGER NOT NULL, title TEXT NOT NULL)');
    db.exec('CREATE INDEX cards_board ON cards (board_id, id)');
    db.exec('CREATE TABLE members (board_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (board_id, user_id)) WITHOUT ROWID');
    const insert = db.prepare('INSERT INTO bench_users (id, name, email) VALUES (?, ?, ?)');
    const insertCard = db.prepare('INSERT INTO cards (id, board_id, title) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= USERS; id++) insert.run(id, `user${id}`, `user${id}@example.com`);
      for (const card of allCards()) insertCard.run(...card);
    })();
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM bench_users').get();
    if (n !== USERS) throw new Error(`bench_users (sqlite) has ${n} rows, expected ${USERS}`);
  } finally {
    db.close();
  }
  return file;
}

export function removeSqliteFile(file) {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
}

-- The kanban's own tables (SQLite). sockey's built-in auth tables (users, user_keys) are
-- created first. Applied at every start (migrate: true), so every statement is idempotent.
CREATE TABLE IF NOT EXISTS boards (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- milliseconds since the epoch
  created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);
-- Who may open a board: the guard of every board route reads this table.
CREATE TABLE IF NOT EXISTS members (
  board_id INTEGER NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (board_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_user ON members (user_id);
CREATE TABLE IF NOT EXISTS cards (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  board_id INTEGER NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  col TEXT NOT NULL DEFAULT 'todo' CHECK (col IN ('todo', 'doing', 'done')),
  created_by INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS cards_board ON cards (board_id, id);
-- What happened on a board, written in the same transaction as the change itself.
CREATE TABLE IF NOT EXISTS activity (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  board_id INTEGER NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
  -- NULL once the card is deleted
  card_id INTEGER REFERENCES cards (id) ON DELETE SET NULL,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  action TEXT NOT NULL,
  -- the card's title (added, deleted) or its new column (moved)
  detail TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);
CREATE INDEX IF NOT EXISTS activity_board ON activity (board_id, id);

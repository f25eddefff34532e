-- The chat's own table (SQLite). sockey's built-in auth tables (users, user_keys) are created first.
-- Applied at every start (migrate: true), so every statement is idempotent.
CREATE TABLE IF NOT EXISTS chat_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  room TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- the author's name when the message was written
  author TEXT NOT NULL,
  body TEXT NOT NULL,
  -- milliseconds since the epoch
  created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);
CREATE INDEX IF NOT EXISTS chat_messages_room ON chat_messages (room, id);

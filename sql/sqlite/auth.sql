-- sockey's built-in auth tables (SQLite). Applied at every start: idempotent.
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  -- lower(name): names are unique case-insensitively
  name_lower TEXT NOT NULL UNIQUE,
  email TEXT,
  -- bcrypt hash, never the password
  password TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
-- One row per signed-in session, so a user can be signed in on several devices.
CREATE TABLE IF NOT EXISTS user_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- SHA-256 of the token, never the token
  token_hash TEXT NOT NULL UNIQUE,
  persistent INTEGER NOT NULL DEFAULT 0,
  -- ms since the epoch when the token was issued or last renewed
  issued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS user_keys_user ON user_keys (user_id);

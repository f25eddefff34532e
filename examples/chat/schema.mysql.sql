-- The chat's own table (MySQL 8.0.13+ / MariaDB 10.2+). sockey's built-in auth tables
-- (users, user_keys) are created first. Applied at every start (migrate: true): idempotent.
CREATE TABLE IF NOT EXISTS chat_messages (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  room VARCHAR(32) NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  -- the author's name when the message was written
  author VARCHAR(191) NOT NULL,
  body TEXT NOT NULL,
  -- milliseconds since the epoch
  created_at BIGINT NOT NULL DEFAULT (ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)),
  KEY chat_messages_room (room, id),
  CONSTRAINT chat_messages_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

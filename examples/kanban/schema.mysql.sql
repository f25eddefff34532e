-- The kanban's own tables (MariaDB 10.5+; see README.md for MySQL 8). sockey's built-in
-- auth tables (users, user_keys) are created first. Applied at every start (migrate: true):
-- idempotent.
CREATE TABLE IF NOT EXISTS boards (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  owner_id BIGINT UNSIGNED NOT NULL,
  -- milliseconds since the epoch
  created_at BIGINT NOT NULL DEFAULT (ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)),
  CONSTRAINT boards_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- Who may open a board: the guard of every board route reads this table.
CREATE TABLE IF NOT EXISTS members (
  board_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (board_id, user_id),
  KEY members_user (user_id),
  CONSTRAINT members_board_fk FOREIGN KEY (board_id) REFERENCES boards (id) ON DELETE CASCADE,
  CONSTRAINT members_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS cards (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  board_id BIGINT UNSIGNED NOT NULL,
  title VARCHAR(200) NOT NULL,
  col VARCHAR(8) NOT NULL DEFAULT 'todo',
  created_by BIGINT UNSIGNED NOT NULL,
  KEY cards_board (board_id, id),
  CONSTRAINT cards_col CHECK (col IN ('todo', 'doing', 'done')),
  CONSTRAINT cards_board_fk FOREIGN KEY (board_id) REFERENCES boards (id) ON DELETE CASCADE,
  CONSTRAINT cards_user_fk FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- What happened on a board, written in the same transaction as the change itself.
CREATE TABLE IF NOT EXISTS activity (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  board_id BIGINT UNSIGNED NOT NULL,
  -- NULL once the card is deleted
  card_id BIGINT UNSIGNED NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  action VARCHAR(20) NOT NULL,
  -- the card's title (added, deleted) or its new column (moved)
  detail VARCHAR(200) NOT NULL,
  created_at BIGINT NOT NULL DEFAULT (ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)),
  KEY activity_board (board_id, id),
  CONSTRAINT activity_board_fk FOREIGN KEY (board_id) REFERENCES boards (id) ON DELETE CASCADE,
  CONSTRAINT activity_card_fk FOREIGN KEY (card_id) REFERENCES cards (id) ON DELETE SET NULL,
  CONSTRAINT activity_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- sockey's built-in auth tables (MySQL/MariaDB). Applied at every start: idempotent.
CREATE TABLE IF NOT EXISTS users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(191) NOT NULL,
  -- lower(name): names are unique case-insensitively
  name_lower VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
  email VARCHAR(255) NULL,
  -- bcrypt hash, never the password
  password VARCHAR(100) NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE KEY users_name_lower (name_lower)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- One row per signed-in session, so a user can be signed in on several devices.
CREATE TABLE IF NOT EXISTS user_keys (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  -- SHA-256 of the token, never the token
  token_hash CHAR(64) NOT NULL,
  persistent TINYINT(1) NOT NULL DEFAULT 0,
  -- ms since the epoch when the token was issued or last renewed
  issued_at BIGINT NOT NULL,
  UNIQUE KEY user_keys_token (token_hash),
  KEY user_keys_user (user_id),
  CONSTRAINT user_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

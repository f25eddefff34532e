import type { Driver } from '../db/driver.js';
import { SockeyError } from '../core/errors.js';

export interface UserRow {
  id: number | string;
  name: string;
  password: string;
}

export interface KeyRow {
  id: number | string;
  user_id: number | string;
  name: string;
  token_hash: string;
  persistent: number;
  issued_at: number;
}

/** The users and user_keys tables (sql/<driver>/auth.sql), through bound parameters only. */
export class AuthStore {
  constructor(private readonly db: Driver) {}

  async findUser(name: string): Promise<UserRow | undefined> {
    const r = await this.db.run('SELECT id, name, password FROM users WHERE name_lower = ?', [name.toLowerCase()]);
    return r.rows?.[0] as UserRow | undefined;
  }

  /** Creates a user; CONFLICT when the name (case-insensitively) is taken. */
  async createUser(name: string, email: string | null, passwordHash: string): Promise<number | string> {
    try {
      const r = await this.db.run('INSERT INTO users (name, name_lower, email, password, created_at) VALUES (?, ?, ?, ?, ?)', [name, name.toLowerCase(), email, passwordHash, Date.now()]);
      return r.insertId!;
    } catch (e) {
      if ((e as SockeyError).details && ((e as SockeyError).details as { reason?: string }).reason === 'constraint') {
        throw new SockeyError('CONFLICT', 'That name is taken.');
      }
      throw e;
    }
  }

  async createKey(userId: number | string, tokenHash: string, persistent: boolean, now: number): Promise<number | string> {
    const r = await this.db.run('INSERT INTO user_keys (user_id, token_hash, persistent, issued_at) VALUES (?, ?, ?, ?)', [userId, tokenHash, persistent ? 1 : 0, now]);
    return r.insertId!;
  }

  async findKey(tokenHash: string): Promise<KeyRow | undefined> {
    const r = await this.db.run('SELECT k.id, k.user_id, u.name, k.token_hash, k.persistent, k.issued_at FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.token_hash = ?', [tokenHash]);
    const row = r.rows?.[0] as KeyRow | undefined;
    return row && { ...row, persistent: Number(row.persistent), issued_at: Number(row.issued_at) };
  }

  /** The key row by id (a recovered socket's session): undefined once it was revoked. */
  async findKeyById(id: number | string): Promise<KeyRow | undefined> {
    const r = await this.db.run('SELECT k.id, k.user_id, u.name, k.token_hash, k.persistent, k.issued_at FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.id = ?', [id]);
    const row = r.rows?.[0] as KeyRow | undefined;
    return row && { ...row, persistent: Number(row.persistent), issued_at: Number(row.issued_at) };
  }

  async renewKey(id: number | string, tokenHash: string, now: number): Promise<void> {
    await this.db.run('UPDATE user_keys SET token_hash = ?, issued_at = ? WHERE id = ?', [tokenHash, now, id]);
  }

  async deleteKey(id: number | string): Promise<void> {
    await this.db.run('DELETE FROM user_keys WHERE id = ?', [id]);
  }
}

const stores = new WeakMap<Driver, AuthStore>();

/** One store per open database (a reload may switch databases). */
export function storeFor(db: Driver): AuthStore {
  let s = stores.get(db);
  if (!s) stores.set(db, (s = new AuthStore(db)));
  return s;
}

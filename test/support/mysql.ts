import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export const MYSQL_ROOT_URL = process.env.SOCKEY_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A fresh MariaDB/MySQL database with a random name; `drop()` removes it. */
export async function createTestDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `sockey_test_${randomBytes(6).toString('hex')}`;
  const conn = await mysql.createConnection(MYSQL_ROOT_URL);
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.end();
  const url = new URL(MYSQL_ROOT_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = await mysql.createConnection(MYSQL_ROOT_URL);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

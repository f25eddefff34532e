import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { createTestDatabase } from './mysql.js';
import { serve, type Served } from './child.js';
import { tempApp } from './util.js';

export const REDIS_URL = process.env.SOCKEY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own for one test; `drop()` deletes every key under it. */
export function redisPrefix(): { prefix: string; drop(): Promise<void> } {
  const prefix = `sockey_test_${randomBytes(5).toString('hex')}`;
  return {
    prefix,
    async drop() {
      const c = createClient({ url: REDIS_URL });
      c.on('error', () => undefined);
      await c.connect();
      try {
        const keys: string[] = [];
        for await (const batch of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) keys.push(...batch);
        if (keys.length) await c.del(keys);
      } finally {
        await c.close();
      }
    },
  };
}

export interface TestCluster {
  nodes: Served[];
  prefix: string;
  dir: string;
  close(): Promise<void>;
}

/**
 * `count` real `sockey serve` processes of one manifest on one MariaDB test
 * database and one Redis prefix (the manifest's `database:` and `cluster:`
 * are added here; `body` is the rest of it).
 */
export async function startCluster(count: number, body: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): Promise<TestCluster> {
  const db = await createTestDatabase();
  const redis = redisPrefix();
  const manifest = `version: 1
database: { driver: mysql, url: "${db.url}", schema: [./schema.sql], migrate: true }
cluster: { redis: "${REDIS_URL}", prefix: ${redis.prefix} }
${body}`;
  const app = tempApp({ 'sockey.yaml': manifest, 'schema.sql': files['schema.sql'] ?? 'CREATE TABLE IF NOT EXISTS nothing (id INT);\n', ...files });
  const nodes: Served[] = [];
  try {
    // One at a time: the first applies the schema; the others find it done.
    for (let i = 0; i < count; i++) nodes.push(await serve(['--port', '0'], app.dir, env));
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    await db.drop();
    await redis.drop();
    app.cleanup();
    throw e;
  }
  return {
    nodes,
    prefix: redis.prefix,
    dir: app.dir,
    async close() {
      await Promise.all(nodes.map((n) => n.stop()));
      await db.drop();
      await redis.drop();
      app.cleanup();
    },
  };
}

import { readFileSync } from 'node:fs';
import type { Driver } from './driver.js';

/**
 * Applies schema files in order. They run every time, so they are written to
 * be idempotent (CREATE TABLE IF NOT EXISTS), as the built-in ones are.
 */
export async function migrate(db: Driver, files: readonly string[]): Promise<string[]> {
  const applied: string[] = [];
  for (const file of files) {
    const script = readFileSync(file, 'utf8');
    if (script.trim() === '') continue;
    try {
      await db.exec(script);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`, { cause: e });
    }
    applied.push(file);
  }
  return applied;
}

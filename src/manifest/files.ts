import path from 'node:path';
import { loadManifest } from './load.js';
import type { RawAction, RawManifest } from './types.js';

/** A `sql:` that is a path ending in .sql names a file (relative to the manifest). */
export function isSqlFile(sql: string): boolean {
  return /^[^\s;]+\.sql$/i.test(sql);
}

/**
 * The files a manifest names (schema files, SQL files, hook modules), read
 * from its plain data: used to watch what a rejected version needs.
 */
export function referencedFiles(manifest: string, cwd: string): string[] {
  const { source } = loadManifest(manifest, cwd);
  const data = source?.data as RawManifest | undefined;
  if (!source || !data || typeof data !== 'object') return [];
  const files = new Set<string>([source.absPath]);
  const add = (p: unknown) => {
    if (typeof p === 'string') files.add(path.resolve(source.dir, p.split('#')[0]!));
  };
  const schema = data.database?.schema;
  (Array.isArray(schema) ? schema : [schema]).forEach(add);
  const action = (a: RawAction | undefined) => {
    if (!a || typeof a !== 'object') return;
    for (const sql of Array.isArray(a.sql) ? a.sql : [a.sql]) if (typeof sql === 'string' && isSqlFile(sql)) add(sql);
    if (typeof a.hook === 'string') add(a.hook);
  };
  for (const route of Object.values(data.routes ?? {})) {
    action(route);
    if (Array.isArray(route?.timers)) route.timers.forEach(action);
  }
  return [...files];
}

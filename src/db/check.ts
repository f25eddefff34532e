import type { Driver } from './driver.js';
import type { ManifestPath } from '../manifest/diagnostics.js';
import type { DiagnosticSink } from '../manifest/load.js';

/** A statement with `?` placeholders, the route it belongs to and where the manifest declares it. */
export interface LocatedStatement {
  event: string;
  path: ManifestPath;
  text: string;
}

/**
 * Prepares a table's statements against a database (`validate --db`, `serve`
 * and every reload), so a misspelled column is a located problem instead of a
 * DB_ERROR on the first call. `only` limits it to some events (a reload
 * checks the routes it compiled again). A database that cannot be reached is
 * one problem at `database`, not one per statement.
 */
export async function checkStatements(
  db: Driver,
  table: { statements: readonly LocatedStatement[]; routes?: ReadonlyMap<string, { builtin: boolean }> },
  sink: DiagnosticSink,
  only?: (event: string) => boolean,
): Promise<void> {
  const statements = table.statements.filter((s) => !only || only(s.event));
  if (statements.length === 0) return;
  const unreachable = (e: unknown) => sink.error('DB', ['database'], `cannot reach the database: ${messageOf(e)}`, { at: 'key' });
  try {
    await db.check('SELECT 1');
  } catch (e) {
    unreachable(e);
    return;
  }
  for (const s of statements) {
    try {
      await db.check(s.text);
    } catch (e) {
      // mysql2 marks errors that end the connection as fatal: every later statement would fail the same way.
      if ((e as { fatal?: unknown }).fatal === true) {
        unreachable(e);
        return;
      }
      const builtin = table.routes?.get(s.event)?.builtin;
      sink.error('DB', builtin ? ['auth'] : s.path, `the database rejects this statement: ${messageOf(e)}`);
    }
  }
}

function messageOf(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

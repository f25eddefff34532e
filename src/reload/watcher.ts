import { existsSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { SockeyServer } from '../runtime/server.js';
import { FolderWatch } from './folders.js';
import { Reloader } from './swap.js';

export interface Watching {
  reloader: Reloader;
  close(): Promise<void>;
}

/**
 * chokidar reports the first change of a file and drops the next ones for
 * 50 ms; reloading after a longer quiet spell reads what those writes left.
 */
export const DEFAULT_DEBOUNCE_MS = 75;

/**
 * Watches the manifest, its SQL files and hook modules (and what they
 * import). A burst of writes (editors save in steps) becomes one reload.
 * chokidar watches the files, FolderWatch their folders: a file replaced by
 * a new one (Emacs, vim with backupcopy=no) is seen under its old name again.
 */
export function watchServer(server: SockeyServer, options: { debounceMs?: number } = {}): Watching {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const log = server.log;
  const rel = (file: string) => path.relative(server.options.cwd, file) || file;
  let watched = new Set(server.table.files);
  let timer: NodeJS.Timeout | undefined;
  // Files that saw an event since the last reload (the last one last), and watched files that are not there.
  const touched = new Set<string>();
  const missing = new Set<string>();
  // atomic: false: an unlink is reported at once, inside the same quiet spell as the write that follows it.
  const watcher: FSWatcher = watch([...watched], { ignoreInitial: true, persistent: true, atomic: false });
  const folders = new FolderWatch(
    (file) => touch(file),
    (e) => log.warn(`watcher: ${e.message}`),
  );
  folders.set(watched);
  // After every reload, from a file change or SIGHUP, watch what the version now names;
  // after a rejected one, also what the broken version names (a file it needs may come next).
  const reloader = new Reloader(server, (files, ok) => {
    const now = new Set(files);
    const added = [...now].filter((f) => !watched.has(f));
    if (added.length) watcher.add(added);
    if (ok) {
      const gone = [...watched].filter((f) => !now.has(f));
      if (gone.length) watcher.unwatch(gone);
      watched = now;
      for (const f of missing) if (!now.has(f)) missing.delete(f);
    } else {
      for (const f of added) watched.add(f);
    }
    folders.set(watched);
  });

  function touch(file: string): void {
    if (!watched.has(file)) return;
    touched.delete(file);
    touched.add(file);
    clearTimeout(timer);
    timer = setTimeout(settle, debounceMs);
  }

  // A file that is gone reloads nothing (the version would only be rejected): the save that brings it back does.
  function settle(): void {
    let changed: string | undefined;
    for (const file of touched) {
      if (existsSync(file)) {
        if (missing.delete(file)) log.info(`${rel(file)} is back`);
        // A new file under the old name: chokidar's watch was on the old one.
        watcher.add(file);
        changed = file;
      } else if (!missing.has(file)) {
        missing.add(file);
        log.info(`${rel(file)} disappeared: the current version keeps serving until it is back`);
      }
    }
    touched.clear();
    if (changed) void reloader.reload(`${rel(changed)} changed`);
  }

  watcher.on('all', (_event, file) => touch(file));
  watcher.on('error', (e) => log.warn(`watcher: ${(e as Error).message}`));

  return {
    reloader,
    async close() {
      clearTimeout(timer);
      folders.close();
      await watcher.close();
      await reloader.settled();
    },
  };
}

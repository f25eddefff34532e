import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { SockeyServer } from '../runtime/server.js';
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
 */
export function watchServer(server: SockeyServer, options: { debounceMs?: number } = {}): Watching {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  let watched = new Set(server.table.files);
  const watcher: FSWatcher = watch([...watched], { ignoreInitial: true, persistent: true });
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
    } else {
      for (const f of added) watched.add(f);
    }
  });
  let timer: NodeJS.Timeout | undefined;
  let changedFile = '';

  watcher.on('all', (_event, file) => {
    changedFile = path.relative(server.options.cwd, file) || file;
    clearTimeout(timer);
    timer = setTimeout(() => void reloader.reload(`${changedFile} changed`), debounceMs);
  });
  watcher.on('error', (e) => server.log.warn(`watcher: ${(e as Error).message}`));

  return {
    reloader,
    async close() {
      clearTimeout(timer);
      await watcher.close();
      await reloader.settled();
    },
  };
}

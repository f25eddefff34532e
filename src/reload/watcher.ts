import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { SockeyServer } from '../runtime/server.js';
import { Reloader } from './swap.js';

export interface Watching {
  reloader: Reloader;
  close(): Promise<void>;
}

/**
 * Watches the manifest, its SQL files and hook modules (and what they
 * import). A burst of writes (editors save in steps) becomes one reload.
 */
export function watchServer(server: SockeyServer, options: { debounceMs?: number } = {}): Watching {
  const debounceMs = options.debounceMs ?? 30;
  const reloader = new Reloader(server);
  let watched = new Set(server.table.files);
  const watcher: FSWatcher = watch([...watched], { ignoreInitial: true, persistent: true });
  let timer: NodeJS.Timeout | undefined;
  let changedFile = '';

  const run = async () => {
    const report = await reloader.reload(`${changedFile} changed`);
    if (!report.ok) return;
    // Hooks may import new files, or stop importing old ones.
    const now = new Set(server.table.files);
    const added = [...now].filter((f) => !watched.has(f));
    const gone = [...watched].filter((f) => !now.has(f) && f !== server.table.files[0]);
    if (added.length) watcher.add(added);
    if (gone.length) watcher.unwatch(gone);
    watched = now;
  };

  watcher.on('all', (_event, file) => {
    changedFile = path.relative(server.options.cwd, file) || file;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), debounceMs);
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

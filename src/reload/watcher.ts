import { statSync } from 'node:fs';
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
 *
 * chokidar watches the files that are there. Its watch is on the file's
 * inode, so a save that replaces the file (rename away and write, delete and
 * create: Emacs, vim with backupcopy=no) leaves it watching nothing, and what
 * it sets up itself to see a file come back (a watch on the folder that reads
 * the folder at every event there) stays after the file is back. So when a
 * file is found gone or replaced, chokidar starts over on a fresh instance,
 * and FolderWatch waits for the files that are not there.
 */
export function watchServer(server: SockeyServer, options: { debounceMs?: number } = {}): Watching {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const log = server.log;
  const rel = (file: string) => path.relative(server.options.cwd, file) || file;
  let watched = new Set(server.table.files);
  // What each watched file was when last looked at ('' = not there).
  const seen = new Map<string, string>();
  for (const f of watched) seen.set(f, stamp(f));
  // Watched files that are not there, and those of them that were (logged as gone).
  const absent = new Set([...watched].filter((f) => seen.get(f) === ''));
  const gone = new Set<string>();
  // Files that saw an event since the last settle (the last one last).
  const touched = new Set<string>();
  // An unlink or add since the last settle: chokidar lost that file, even when a freed inode number came back.
  let relinked = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  /** A chokidar instance on the watched files that are there; resolves once its watches are attached. */
  const open = (): { w: FSWatcher; attached: Promise<void> } => {
    const files = [...watched].filter((f) => !absent.has(f));
    // atomic: false: an unlink is reported at once, in the same quiet spell as the write that follows it.
    const w = watch(files, { ignoreInitial: true, persistent: true, atomic: false });
    w.on('all', (event, file) => {
      if (event === 'unlink' || event === 'add') relinked = true;
      touch(file);
    });
    w.on('error', (e) => log.warn(`watcher: ${(e as Error).message}`));
    // chokidar says nothing ('ready' never comes) when given no path.
    const attached = files.length ? new Promise<void>((resolve) => w.once('ready', () => resolve())) : Promise.resolve();
    return { w, attached };
  };
  let watcher = open().w;
  let restarting = Promise.resolve();
  const folders = new FolderWatch(touch, (e) => log.warn(`watcher: ${e.message}`));
  waitForAbsent();

  // After every reload, from a file change or SIGHUP, watch what the version now names;
  // after a rejected one, also what the broken version names (a file it needs may come next).
  const reloader = new Reloader(server, (files, ok) => {
    const now = new Set(files);
    const added = [...now].filter((f) => !watched.has(f));
    for (const f of added) seen.set(f, stamp(f));
    const present = added.filter((f) => seen.get(f) !== '');
    if (present.length) watcher.add(present);
    for (const f of added) if (seen.get(f) === '') absent.add(f);
    if (ok) {
      const dropped = [...watched].filter((f) => !now.has(f));
      if (dropped.length) watcher.unwatch(dropped);
      for (const f of dropped) {
        seen.delete(f);
        absent.delete(f);
        gone.delete(f);
      }
      watched = now;
    } else {
      for (const f of added) watched.add(f);
    }
    waitForAbsent();
  });

  function touch(file: string): void {
    if (closed || !watched.has(file)) return;
    touched.delete(file);
    touched.add(file);
    clearTimeout(timer);
    timer = setTimeout(settle, debounceMs);
  }

  // A file that is gone reloads nothing (the version would only be rejected): the save that brings it back does.
  function settle(): void {
    let changed: string | undefined;
    let replaced = relinked;
    let waitAgain = false;
    relinked = false;
    for (const file of touched) {
      const before = seen.get(file) ?? '';
      const now = stamp(file);
      seen.set(file, now);
      if (now === '') {
        if (!absent.has(file)) replaced = true;
        absent.add(file);
        // Look again where to wait: a folder on the way may have appeared.
        waitAgain = true;
        if (before !== '' && !gone.has(file)) {
          gone.add(file);
          log.info(`${rel(file)} disappeared: the current version keeps serving until it is back`);
        }
        continue;
      }
      if (absent.delete(file)) replaced = waitAgain = true;
      if (gone.delete(file)) log.info(`${rel(file)} is back`);
      if (inode(now) !== inode(before)) replaced = true;
      changed = file;
    }
    touched.clear();
    if (replaced) restart();
    if (waitAgain) waitForAbsent();
    if (changed) void reloader.reload(`${rel(changed)} changed`);
  }

  function waitForAbsent(): void {
    folders.set(absent);
    // One that came before the folder was watched has no event to tell.
    for (const f of absent) if (stamp(f) !== '') touch(f);
  }

  function restart(): void {
    restarting = restarting.then(async () => {
      if (closed) return;
      const old = watcher;
      const next = open();
      watcher = next.w;
      // The old instance still sees the other files until the new one is attached.
      await next.attached;
      await old.close();
      // A write between the settle and the new watches was seen by neither.
      for (const f of watched) if (!absent.has(f) && stamp(f) !== seen.get(f)) touch(f);
    });
  }

  return {
    reloader,
    async close() {
      closed = true;
      clearTimeout(timer);
      folders.close();
      await restarting;
      await watcher.close();
      await reloader.settled();
    },
  };
}

/** inode, size and mtime ('' when the file is not there): what tells a replaced or edited file. */
function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return '';
  }
}

function inode(stamp: string): string {
  return stamp.slice(0, stamp.indexOf(':'));
}

import { statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

interface Folder {
  handle: FSWatcher;
  /** Entry name in this folder -> the files it leads to (the file itself, or a folder on the way to it). */
  names: Map<string, string[]>;
}

/**
 * Waits for files that are not there: fs.watch on the nearest folder that
 * exists, filtered to the names that lead to them. Attached at once (unlike
 * chokidar's), so the caller can look for the files right after `set` and
 * miss nothing. Only for absent files: a watched folder calls back on every
 * event in it (a SQLite journal next to the manifest is written at every
 * message), so present files are left to chokidar's watch on the file.
 */
export class FolderWatch {
  private readonly folders = new Map<string, Folder>();

  constructor(
    private readonly onFile: (file: string) => void,
    private readonly onError: (e: Error) => void,
  ) {}

  /** Watches for exactly these files (again: a folder on the way may have appeared since). */
  set(files: Iterable<string>): void {
    const wanted = new Map<string, Map<string, string[]>>();
    for (const file of files) {
      let dir = path.dirname(file);
      let name = path.basename(file);
      while (!isFolder(dir) && path.dirname(dir) !== dir) {
        name = path.basename(dir);
        dir = path.dirname(dir);
      }
      let names = wanted.get(dir);
      if (!names) wanted.set(dir, (names = new Map()));
      names.set(name, [...(names.get(name) ?? []), file]);
    }
    for (const [dir, folder] of this.folders) if (!wanted.has(dir)) this.drop(dir, folder);
    for (const [dir, names] of wanted) {
      const known = this.folders.get(dir);
      if (known) {
        known.names = names;
        continue;
      }
      try {
        const folder: Folder = {
          names,
          handle: watch(dir, { persistent: false }, (_event, name) => {
            for (const file of (name && folder.names.get(name)) || []) this.onFile(file);
          }),
        };
        folder.handle.on('error', (e) => {
          this.drop(dir, folder);
          this.onError(e);
        });
        this.folders.set(dir, folder);
      } catch (e) {
        this.onError(e as Error);
      }
    }
  }

  close(): void {
    for (const [dir, folder] of this.folders) this.drop(dir, folder);
  }

  private drop(dir: string, folder: Folder): void {
    folder.handle.close();
    if (this.folders.get(dir) === folder) this.folders.delete(dir);
  }
}

function isFolder(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

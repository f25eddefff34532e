import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

interface Folder {
  handle: FSWatcher;
  names: Set<string>;
}

/**
 * fs.watch on the folders of the watched files. A watch on a file follows its
 * inode, so a save that replaces the file (rename away and write, delete and
 * create) leaves it watching nothing; the folder sees the new file under the
 * old name. Events for other names cost one Set lookup (a SQLite journal
 * next to the manifest is written on every message), never a directory read.
 */
export class FolderWatch {
  private readonly folders = new Map<string, Folder>();

  constructor(
    private readonly onFile: (file: string) => void,
    private readonly onError: (e: Error) => void,
  ) {}

  /** Watches the folders of exactly these files. A folder that does not exist yet is tried again at the next call. */
  set(files: Iterable<string>): void {
    const wanted = new Map<string, Set<string>>();
    for (const file of files) {
      const dir = path.dirname(file);
      let names = wanted.get(dir);
      if (!names) wanted.set(dir, (names = new Set()));
      names.add(path.basename(file));
    }
    for (const [dir, folder] of this.folders) {
      if (!wanted.has(dir)) this.drop(dir, folder);
    }
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
            if (name && folder.names.has(name)) this.onFile(path.join(dir, name));
          }),
        };
        folder.handle.on('error', (e) => {
          this.drop(dir, folder);
          this.onError(e);
        });
        this.folders.set(dir, folder);
      } catch {
        // Not there yet: chokidar waits for the file through the nearest folder that exists.
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

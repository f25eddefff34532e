import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { LoadedHook } from '../directives/context.js';

// tsx loads a .ts file as CommonJS when no "type": "module" is near it; such modules live in require.cache.
const requireCache = createRequire(import.meta.url).cache;

/**
 * Loads hook modules (TypeScript or JavaScript) through tsx. Each loader is a
 * fresh module namespace, so a reload really runs the new code.
 */
export class HookLoader {
  private readonly modules = new Map<string, Promise<Record<string, unknown> | Error>>();
  /** Every file the hooks imported, the app's own and below: what a watcher should watch. */
  readonly files = new Set<string>();

  private started = false;

  constructor(private readonly dir: string) {}

  /** The app's own CommonJS modules (not node_modules) in require.cache. */
  private appModules(): string[] {
    const prefix = this.dir + path.sep;
    return Object.keys(requireCache).filter((f) => f.startsWith(prefix) && !f.includes(`${path.sep}node_modules${path.sep}`));
  }

  /** Splits `./hooks/x.ts#name` into an absolute file and an export name (default: `default`). */
  resolve(spec: string): { file: string; name: string } {
    const hash = spec.lastIndexOf('#');
    const file = hash === -1 ? spec : spec.slice(0, hash);
    const name = hash === -1 ? 'default' : spec.slice(hash + 1);
    return { file: path.resolve(this.dir, file), name };
  }

  private importFile(file: string): Promise<Record<string, unknown> | Error> {
    let p = this.modules.get(file);
    if (!p) {
      p = tsImport(pathToFileURL(file).href, {
        parentURL: import.meta.url,
        onImport: (url: string) => {
          if (url.startsWith('file:') && !url.includes('/node_modules/')) this.files.add(fileURLToPath(url.split('?')[0]!));
        },
      }).then(
        // tsx reports imports from its loader thread: let those messages in (two loop turns, so a
        // poll phase passes whichever phase this resumes in) before the file list is read.
        async (m: Record<string, unknown>) => {
          for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
          return m;
        },
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
      this.modules.set(file, p);
    }
    return p;
  }

  /**
   * A load error in one line. esbuild's syntax errors ("Transform failed with
   * 1 error:" then `file:line:col: ERROR: text` lines) keep every located
   * message, with the file relative to the app.
   */
  private describe(e: Error): string {
    const located = e.message
      .split('\n')
      .map((line) => /^(.+?):(\d+):(\d+): (?:ERROR: )?(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && path.isAbsolute(m[1]!))
      .map(([, file, line, col, text]) => `${path.relative(this.dir, file!)}:${line}:${col}: ${text}`);
    return located.length ? located.join('; ') : e.message.split('\n')[0]!;
  }

  async load(spec: string): Promise<LoadedHook> {
    if (!this.started) {
      // A fresh namespace makes ES modules new; CommonJS ones must leave the shared cache too.
      this.started = true;
      for (const f of this.appModules()) delete requireCache[f];
    }
    const { file, name } = this.resolve(spec);
    if (!existsSync(file)) return { error: `hook file ${path.relative(this.dir, file) || file} does not exist` };
    this.files.add(file);
    const mod = await this.importFile(file);
    for (const f of this.appModules()) this.files.add(f.split('?')[0]!);
    if (mod instanceof Error) return { error: `hook module ${path.relative(this.dir, file)} failed to load: ${this.describe(mod)}` };
    // A module tsx loads as CommonJS (no "type": "module" nearby) has its exports under `default`.
    const inner = mod.default as Record<string, unknown> | undefined;
    const fn = name === 'default' ? (typeof inner === 'function' ? inner : inner?.default) : (mod[name] ?? inner?.[name]);
    if (typeof fn !== 'function') {
      const exported = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
      return { error: `${path.relative(this.dir, file)} does not export a function "${name}"${exported.length ? ` (it exports: ${exported.join(', ')})` : ''}` };
    }
    return { fn: fn as (ctx: never) => unknown };
  }
}

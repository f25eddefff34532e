import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering rule of src/, as a test: folders are floors, bottom first,
 * and a module imports only from its own folder or a floor below (type
 * imports too). No file imports itself back through others.
 */
const FLOORS: Record<string, number> = {
  core: 0,
  manifest: 1,
  db: 2,
  cluster: 2,
  directives: 3,
  compile: 4,
  pipeline: 5,
  // Operations (metrics, readiness): above the pipeline, below the runtime that serves them.
  ops: 5.5,
  live: 6,
  runtime: 6,
  auth: 7,
  reload: 7,
  describe: 7,
  cli: 8,
  '.': 9,
};

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Every relative import (and re-export) of a file, as src-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]/g)) {
    out.push(path.relative(SRC, path.resolve(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

const folderOf = (rel: string) => (rel.includes('/') ? rel.split('/')[0]! : '.');

const graph = new Map(sources(SRC).map((f) => [path.relative(SRC, f), importsOf(f)]));

describe('layering of src/', () => {
  it('every folder has a floor', () => {
    const folders = new Set([...graph.keys()].map(folderOf));
    expect([...folders].filter((f) => FLOORS[f] === undefined)).toEqual([]);
  });

  it('no import runs up a floor, or sideways into another folder of the same floor', () => {
    const bad: string[] = [];
    for (const [file, imports] of graph) {
      const from = folderOf(file);
      for (const target of imports) {
        const to = folderOf(target);
        if (to !== from && !(FLOORS[to]! < FLOORS[from]!)) bad.push(`${file} -> ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('there is no import cycle between files', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('the public entry `sockey` (what hooks import) loads nothing of the server', () => {
    expect(graph.get('index.ts')!.filter((i) => !i.startsWith('core/'))).toEqual([]);
    const reached = new Set<string>();
    const walk = (f: string) => {
      for (const next of graph.get(f) ?? []) {
        if (reached.has(next)) continue;
        reached.add(next);
        walk(next);
      }
    };
    walk('index.ts');
    expect([...reached].filter((f) => !f.startsWith('core/'))).toEqual([]);
  });

  it('finds the imports it checks (a sanity check of the parser)', () => {
    expect(graph.get('runtime/dispatch.ts')!.length).toBeGreaterThan(3);
    expect(graph.get('index.ts')!.some((i) => i.startsWith('core/'))).toBe(true);
  });
});

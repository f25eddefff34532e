import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { parseManifest, type LoadResult, type ManifestSource } from './load.js';

/*
 * Reloads parse the manifest on a worker thread: YAML parsing is the slowest
 * step of a reload (about 150 ms for 500 routes) and would stall every socket.
 * Positions are only needed to print a problem, so the main thread builds
 * them lazily; a manifest with YAML errors is parsed again here for its diagnostics.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { parseDocument } = require(workerData.yaml);
parentPort.on('message', ({ id, text }) => {
  try {
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length || doc.warnings.length) parentPort.postMessage({ id, ok: false });
    else parentPort.postMessage({ id, ok: true, data: doc.toJS({ maxAliasCount: 100 }) });
  } catch {
    parentPort.postMessage({ id, ok: false });
  }
});
`;

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, (r: { ok: boolean; data?: unknown }) => void>();

function parser(): Worker {
  if (!worker) {
    const yaml = createRequire(import.meta.url).resolve('yaml');
    const w = new Worker(WORKER_CODE, { eval: true, workerData: { yaml } });
    w.on('message', (m: { id: number; ok: boolean; data?: unknown }) => {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
    });
    const fail = () => {
      for (const resolve of pending.values()) resolve({ ok: false });
      pending.clear();
      if (worker === w) worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', fail);
    // Referenced only while a parse is pending: an idle parser never keeps the process alive.
    w.unref();
    worker = w;
  }
  return worker;
}

function parseOnWorker(text: string): Promise<{ ok: boolean; data?: unknown }> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    const w = parser();
    w.ref();
    w.postMessage({ id, text });
  });
}

/** A source whose YAML document (for positions) is only built when a diagnostic needs it. */
function lazySource(text: string, file: string, absPath: string, data: unknown): ManifestSource {
  let parsed: { doc: Document; lineCounter: LineCounter } | undefined;
  const build = () => {
    if (!parsed) {
      const lineCounter = new LineCounter();
      parsed = { doc: parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true }), lineCounter };
    }
    return parsed;
  };
  return {
    file,
    absPath,
    dir: path.dirname(absPath),
    text,
    data,
    get doc() {
      return build().doc;
    },
    get lineCounter() {
      return build().lineCounter;
    },
  };
}

/** Like loadManifest, with the parse on a worker thread. */
export async function loadManifestOffThread(file: string, cwd: string): Promise<LoadResult> {
  const absPath = path.resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(absPath, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    return { diagnostics: [{ code: 'FILE_NOT_FOUND', message: `cannot read manifest: ${reason}`, severity: 'error', file, path: [], line: 1, col: 1 }] };
  }
  const parsed = await parseOnWorker(text);
  if (!parsed.ok) return parseManifest(text, file, absPath);
  return { source: lazySource(text, file, absPath, parsed.data), diagnostics: [] };
}

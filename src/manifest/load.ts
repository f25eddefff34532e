import { readFileSync } from 'node:fs';
import path from 'node:path';
import jsYaml from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Diagnostic, DiagnosticCode, ManifestPath } from './diagnostics.js';

/** A manifest file: its data, and node positions (built when needed) so any path can be located. */
export interface ManifestSource {
  /** As the user named it, for messages. */
  file: string;
  /** Absolute path. */
  absPath: string;
  /** Folder relative paths in the manifest resolve against. */
  dir: string;
  text: string;
  doc: Document;
  lineCounter: LineCounter;
  /** Plain JS value of the document. */
  data: unknown;
}

export interface LoadResult {
  source?: ManifestSource;
  diagnostics: Diagnostic[];
}

export function loadManifest(file: string, cwd = process.cwd()): LoadResult {
  const absPath = path.resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(absPath, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    return { diagnostics: [{ code: 'FILE_NOT_FOUND', message: `cannot read manifest: ${reason}`, severity: 'error', file, path: [], line: 1, col: 1 }] };
  }
  return parseManifest(text, file, absPath);
}

/**
 * Two parsers, each for what it does best. js-yaml builds the data (YAML 1.2
 * core schema, like \`yaml\`'s default; about 15x faster, which is what keeps a
 * reload of a large manifest cheap). \`yaml\` builds the document with node
 * positions, only when a problem is to be printed, and reports syntax errors.
 */
export function parseManifest(text: string, file: string, absPath = path.resolve(file)): LoadResult {
  let data: unknown;
  let fastError: jsYaml.YAMLException | undefined;
  try {
    data = jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, filename: file }) ?? null;
  } catch (e) {
    fastError = e as jsYaml.YAMLException;
  }
  const source = lazySource(text, file, absPath, fastError ? undefined : data);
  if (!fastError) return { source, diagnostics: [] };
  const { doc, lineCounter } = source;
  const diagnostics: Diagnostic[] = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(err.pos[0]);
    diagnostics.push({ code: 'YAML_SYNTAX', message: err.message.split('\n')[0]!, severity: doc.errors.includes(err) ? 'error' : 'warning', file, path: [], line: pos.line, col: pos.col });
  }
  if (!diagnostics.some((d) => d.severity === 'error')) {
    const mark = fastError.mark;
    diagnostics.push({ code: 'YAML_SYNTAX', message: fastError.reason || fastError.message.split('\n')[0]!, severity: 'error', file, path: [], line: (mark?.line ?? 0) + 1, col: (mark?.column ?? 0) + 1 });
  }
  return { source, diagnostics };
}

/** A source whose positioned document is built on first use. */
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

/**
 * Offset of the node at `path`: the value when `at` is 'value', the key when
 * 'key'. A path that goes past the document points at its deepest existing node.
 */
export function locate(source: ManifestSource, p: ManifestPath, at: 'key' | 'value' = 'value'): number {
  let node: unknown = source.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) return offset;
      const last = i === p.length - 1;
      const keyStart = rangeStart(pair.key);
      const valueStart = rangeStart(pair.value);
      offset = (last && at === 'key') || valueStart === undefined ? keyStart ?? offset : valueStart;
      node = pair.value;
    } else if (isSeq(node) && /^\d+$/.test(String(seg))) {
      const item = node.items[Number(seg)];
      const start = rangeStart(item);
      if (start === undefined) return offset;
      offset = start;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}

/** Builds diagnostics located in one source. */
export class DiagnosticSink {
  readonly list: Diagnostic[] = [];
  constructor(private readonly source: ManifestSource) {}

  error(code: DiagnosticCode, path: ManifestPath, message: string, where: { at?: 'key' | 'value'; offset?: number } = {}): void {
    this.add('error', code, path, message, where);
  }

  warn(code: DiagnosticCode, path: ManifestPath, message: string, where: { at?: 'key' | 'value'; offset?: number } = {}): void {
    this.add('warning', code, path, message, where);
  }

  /** Offset of `needle` inside the scalar at `path` (e.g. a :param in sql), or the scalar itself. */
  offsetOf(path: ManifestPath, needle: string): number {
    const start = locate(this.source, path);
    const node = this.source.doc.getIn(path, true) as Node | undefined;
    const end = node?.range?.[1] ?? this.source.text.length;
    // The whole name: `:room` must not match the start of `:rooms`.
    for (let found = this.source.text.indexOf(needle, start); found !== -1 && found < end; found = this.source.text.indexOf(needle, found + 1)) {
      const wholeWord = !/[A-Za-z0-9_]$/.test(needle) || !/[A-Za-z0-9_]/.test(this.source.text[found + needle.length] ?? '');
      if (wholeWord) return found;
    }
    return start;
  }

  private add(severity: Diagnostic['severity'], code: DiagnosticCode, path: ManifestPath, message: string, where: { at?: 'key' | 'value'; offset?: number }): void {
    const offset = where.offset ?? locate(this.source, path, where.at);
    const pos = this.source.lineCounter.linePos(offset);
    this.list.push({ code, message, severity, file: this.source.file, path, line: pos.line, col: pos.col });
  }
}

import { readFileSync } from 'node:fs';
import path from 'node:path';
import jsYaml from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { formatPath, type Diagnostic, type DiagnosticCode, type ManifestPath } from './diagnostics.js';

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
  /** Files the manifest pulls in by path (`sql: ./list.sql`), by formatted manifest path: problems inside them point into the file. */
  readonly included: Map<string, IncludedFile>;
}

export interface IncludedFile {
  /** As the user would name it: relative to where the manifest was named from. */
  file: string;
  text: string;
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
  let source = lazySource(text, file, absPath, fastError ? undefined : data);
  if (!fastError) return { source, diagnostics: [] };
  const { doc, lineCounter } = source;
  const diagnostics: Diagnostic[] = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(err.pos[0]);
    const message = err.code === 'DUPLICATE_KEY' ? `duplicate key "${keyAt(text, err.pos[0])}": keys must be unique (the last one would silently win)` : err.message.split('\n')[0]!;
    diagnostics.push({ code: 'YAML_SYNTAX', message, severity: doc.errors.includes(err) ? 'error' : 'warning', file, path: [], line: pos.line, col: pos.col });
  }
  // Duplicate keys are the only problem: the rest of the file is still checked, read as if the last key won.
  if (doc.errors.length > 0 && doc.errors.every((e) => e.code === 'DUPLICATE_KEY')) {
    source = lazySource(text, file, absPath, jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, filename: file, json: true }) ?? null);
    return { source, diagnostics };
  }
  if (!diagnostics.some((d) => d.severity === 'error')) {
    const mark = fastError.mark;
    diagnostics.push({
      code: 'YAML_SYNTAX',
      message: fastError.reason || fastError.message.split('\n')[0]!,
      severity: 'error',
      file,
      path: [],
      line: (mark?.line ?? 0) + 1,
      col: (mark?.column ?? 0) + 1,
    });
  }
  return { source, diagnostics };
}

function keyAt(text: string, offset: number): string {
  return /^["']?([^"':\n]*)/.exec(text.slice(offset))?.[1]?.trim() ?? '';
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
    included: new Map(),
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
      offset = (last && at === 'key') || valueStart === undefined ? (keyStart ?? offset) : valueStart;
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

  /**
   * Offset of `needle` inside the scalar at `path` (e.g. a :param in sql), or the scalar itself.
   * For a value read from an included file, the offset is into that file.
   */
  offsetOf(path: ManifestPath, needle: string): number {
    const included = this.source.included.get(formatPath(path));
    if (included) return findWord(included.text, needle, 0, included.text.length) ?? 0;
    const start = locate(this.source, path);
    const node = this.source.doc.getIn(path, true) as Node | undefined;
    const end = node?.range?.[1] ?? this.source.text.length;
    return findWord(this.source.text, needle, start, end) ?? start;
  }

  private add(severity: Diagnostic['severity'], code: DiagnosticCode, path: ManifestPath, message: string, where: { at?: 'key' | 'value'; offset?: number }): void {
    const included = this.source.included.get(formatPath(path));
    if (included) {
      const pos = linePos(included.text, where.offset ?? 0);
      this.list.push({ code, message, severity, file: included.file, path, line: pos.line, col: pos.col });
      return;
    }
    const offset = where.offset ?? locate(this.source, path, where.at);
    const pos = this.source.lineCounter.linePos(offset);
    this.list.push({ code, message, severity, file: this.source.file, path, line: pos.line, col: pos.col });
  }
}

/** The whole name: `:room` must not match the start of `:rooms`. */
function findWord(text: string, needle: string, start: number, end: number): number | undefined {
  for (let found = text.indexOf(needle, start); found !== -1 && found < end; found = text.indexOf(needle, found + 1)) {
    const wholeWord = !/[A-Za-z0-9_]$/.test(needle) || !/[A-Za-z0-9_]/.test(text[found + needle.length] ?? '');
    if (wholeWord) return found;
  }
  return undefined;
}

function linePos(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1 };
}

import { constants, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { lookup } from 'mrmime';
import { isHidden, publicPath } from './static-path.js';

export interface StaticOptions {
  /** Clean URLs: `/about` may be `about.html`, and a folder its `index.html`. */
  html?: boolean;
}

/** Answers the request from the folder and resolves true, or resolves false (nothing sent) when no file may answer. */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse, urlPath: string) => Promise<boolean>;

/**
 * Files of one folder, read from the disk on every request (new files appear
 * without a restart). A file is served only when its real path, symlinks
 * resolved, is inside the real path of the folder and goes through no
 * dotfile or dot-folder (see static-path.ts). GET and HEAD, weak ETags and
 * 304, single byte ranges.
 */
export function staticFiles(root: string, options: StaticOptions = {}): StaticHandler {
  return async (req, res, urlPath) => {
    const wanted = publicPath(urlPath);
    if (!wanted) return false;
    let realRoot: string;
    try {
      // Per request: the folder may itself be a symlink that a deploy repoints.
      realRoot = await realpath(root);
    } catch {
      return false;
    }
    for (const rel of candidates(wanted.segments, wanted.folder, options.html ?? false)) {
      const file = await openPublished(realRoot, rel);
      if (file) {
        sendFile(req, res, file.handle, file.stats, rel[rel.length - 1]!);
        return true;
      }
    }
    return false;
  };
}

function candidates(segments: string[], folder: boolean, html: boolean): string[][] {
  if (folder || segments.length === 0) return html ? [[...segments, 'index.html']] : [];
  if (!html) return [segments];
  const last = segments[segments.length - 1]!;
  return [segments, [...segments.slice(0, -1), `${last}.html`], [...segments, 'index.html']];
}

/** An open regular file whose real path is published, or undefined. */
async function openPublished(realRoot: string, rel: string[]): Promise<{ handle: FileHandle; stats: Stats } | undefined> {
  let real: string;
  try {
    real = await realpath(path.join(realRoot, ...rel));
  } catch {
    return undefined;
  }
  const inside = path.relative(realRoot, real);
  const parts = inside.split(path.sep);
  if (inside === '' || path.isAbsolute(inside) || parts[0] === '..' || isHidden(parts)) return undefined;
  let handle: FileHandle;
  try {
    // The real path has no symlinks left; O_NOFOLLOW refuses one swapped in since.
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const stats = await handle.stat().catch(() => undefined);
  if (!stats?.isFile()) {
    await handle.close().catch(() => undefined);
    return undefined;
  }
  return { handle, stats };
}

function contentType(name: string): string {
  const type = lookup(name) ?? 'application/octet-stream';
  return type.startsWith('text/') || type === 'application/json' ? `${type}; charset=utf-8` : type;
}

/** If-None-Match holds the ETag (weak comparison) or `*`. */
function notModified(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === bare;
  });
}

/** One `bytes=` range as [start, end] (inclusive), 'unsatisfiable', or undefined to send the whole file. */
function byteRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  // Several ranges, or a malformed one: the whole file (RFC 9110 lets a server ignore Range).
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? Infinity : Number(m[2]);
  if (end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, Math.min(end, size - 1)];
}

function sendFile(req: IncomingMessage, res: ServerResponse, handle: FileHandle, stats: Stats, name: string): void {
  const close = () => void handle.close().catch(() => undefined);
  const etag = `W/"${stats.size}-${stats.mtime.getTime()}"`;
  const lastModified = stats.mtime.toUTCString();
  const validators = { etag, 'last-modified': lastModified, 'cache-control': 'no-cache' };
  if (notModified(req.headers['if-none-match'], etag)) {
    close();
    res.writeHead(304, validators).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === lastModified ? byteRange(req.headers.range, stats.size) : undefined;
  const headers: Record<string, string | number> = {
    ...validators,
    'content-type': contentType(name),
    'x-content-type-options': 'nosniff',
    'accept-ranges': 'bytes',
  };
  if (range === 'unsatisfiable') {
    close();
    res.writeHead(416, { ...headers, 'content-range': `bytes */${stats.size}` }).end();
    return;
  }
  const [start, end] = range ?? [0, stats.size - 1];
  headers['content-length'] = Math.max(0, end - start + 1);
  if (range) headers['content-range'] = `bytes ${start}-${end}/${stats.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || stats.size === 0) {
    close();
    res.end();
    return;
  }
  // The stream closes the handle when it ends, fails or the client goes away.
  pipeline(handle.createReadStream({ start, end }), res, (err) => {
    if (err) res.destroy();
  });
}

/**
 * Which URL paths may name a published file. Pure string rules, checked
 * before the disk is touched and again on the real path a file resolves to.
 */

/** RFC 8615: the one dot-folder a site publishes on purpose, at its root only. */
const WELL_KNOWN = '.well-known';

/**
 * True when a path (as segments from the served folder) goes through a
 * dotfile or dot-folder (`.env`, `.git/`, `.`, `..`). Only a leading
 * `.well-known` folder is public; a dotfile inside it is not.
 */
export function isHidden(segments: readonly string[]): boolean {
  return segments.some((s, i) => s.startsWith('.') && !(i === 0 && s === WELL_KNOWN));
}

export interface PublicPath {
  /** Decoded segments, none empty, none hidden, none holding a separator. */
  segments: string[];
  /** The URL ended with `/` (or was `/`): it names a folder. */
  folder: boolean;
}

/**
 * The decoded segments of a URL path (without its query), or undefined when
 * the path must be answered 404. Each segment is decoded on its own, so
 * `%2e` spells a dot and `%2f` or `%5c` cannot smuggle a separator in; empty
 * segments (`//`) are dropped.
 */
export function publicPath(urlPath: string): PublicPath | undefined {
  if (!urlPath.startsWith('/')) return undefined;
  const segments: string[] = [];
  for (const part of urlPath.split('/')) {
    if (part === '') continue;
    let s: string;
    try {
      s = decodeURIComponent(part);
    } catch {
      return undefined;
    }
    // A backslash is a separator on Windows and never part of a name worth serving.
    if (s.includes('/') || s.includes('\\') || s.includes('\0')) return undefined;
    segments.push(s);
  }
  if (isHidden(segments)) return undefined;
  return { segments, folder: urlPath.endsWith('/') };
}

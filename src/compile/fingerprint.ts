import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Settings } from '../manifest/settings.js';
import { usesDatabase, usesHook, type RouteEntry } from './entries.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * A route's fingerprint: a hash of what it is compiled from — its entry, the
 * settings it depends on (reply suffixes and the default rate limit for all;
 * the database and auth sections for routes that use the database), and the
 * sources of the hook modules (and everything they import) for hook routes.
 * Equal fingerprints mean a reload may take the compiled route over.
 */
export class Fingerprints {
  private readonly shared: string;
  private readonly dbShared: string;
  private readonly fileDigests = new Map<string, string>();

  constructor(settings: Settings) {
    this.shared = JSON.stringify([settings.socket, settings.server.rateLimit]);
    this.dbShared = JSON.stringify([settings.database, settings.auth]);
  }

  /** One digest of the hook sources (each file read and hashed once per compile). */
  hookDigest(files: Iterable<string>): string {
    return sha256(
      [...files]
        .sort()
        .map((f) => `${f}\0${this.digestOf(f)}`)
        .join('\n'),
    );
  }

  of(entry: RouteEntry, hookDigest: string): string {
    const raw = JSON.stringify(entry.raw, (_k, v) => (typeof v === 'function' ? `fn:${v.name}` : v));
    return sha256(raw + this.shared + (usesDatabase(entry.raw) || entry.builtin ? this.dbShared : '') + (usesHook(entry.raw) ? hookDigest : ''));
  }

  private digestOf(file: string): string {
    let d = this.fileDigests.get(file);
    if (d === undefined) {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // A missing file hashes as empty: its coming back is a change.
      }
      this.fileDigests.set(file, (d = sha256(text)));
    }
    return d;
  }
}

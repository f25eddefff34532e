import type { RouteTable } from '../compile/table.js';
import { formatDiagnostic, ManifestError } from '../manifest/diagnostics.js';
import type { Settings } from '../manifest/settings.js';
import type { SockeyServer } from '../runtime/server.js';
import { buildVersion, type Version } from '../pipeline/build.js';
import { referencedFiles } from '../manifest/files.js';

export interface ReloadReport {
  ok: boolean;
  added: string[];
  removed: string[];
  changed: string[];
  ms: number;
  restartNeeded: string[];
}

/** What a new table changes, by route fingerprint. */
export function diffTables(before: RouteTable, after: RouteTable): Pick<ReloadReport, 'added' | 'removed' | 'changed'> {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [event, route] of after.routes) {
    const old = before.routes.get(event);
    if (!old) added.push(event);
    else if (old.fingerprint !== route.fingerprint) changed.push(event);
  }
  for (const event of before.routes.keys()) if (!after.routes.has(event)) removed.push(event);
  return { added, removed, changed };
}

/** Settings a running server cannot take without a restart. */
export function restartNeeded(before: Settings, after: Settings): string[] {
  const out: string[] = [];
  const a = before.server;
  const b = after.server;
  if (a.port !== b.port) out.push('server.port');
  if (a.host !== b.host) out.push('server.host');
  if (JSON.stringify(a.cors) !== JSON.stringify(b.cors)) out.push('server.cors');
  if (a.maxPayload !== b.maxPayload) out.push('server.maxPayload');
  if (JSON.stringify(a.recovery) !== JSON.stringify(b.recovery)) out.push('server.recovery');
  if (JSON.stringify(a.metrics) !== JSON.stringify(b.metrics)) out.push('server.metrics');
  if (JSON.stringify(before.cluster) !== JSON.stringify(after.cluster)) out.push('cluster');
  return out;
}

/**
 * Rebuilds the server's version off to the side and swaps it in at once.
 * Reloads never overlap: one asked for during another runs right after it.
 */
export class Reloader {
  private running: Promise<ReloadReport> | undefined;
  private again: string | undefined;

  /** `onFiles` hears, after each reload, the files the new (or the rejected) version names. */
  constructor(
    private readonly server: SockeyServer,
    private readonly onFiles?: (files: string[], ok: boolean) => void,
  ) {}

  reload(reason: string): Promise<ReloadReport> {
    if (this.running) {
      this.again = reason;
      return this.running;
    }
    this.running = this.run(reason).finally(() => {
      this.running = undefined;
      if (this.again !== undefined) {
        const next = this.again;
        this.again = undefined;
        void this.reload(next);
      }
    });
    return this.running;
  }

  /** Resolves when no reload is under way or queued. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(reason: string): Promise<ReloadReport> {
    const { server } = this;
    const log = server.log;
    const started = performance.now();
    const previous = server.version;
    let next: Awaited<ReturnType<typeof buildVersion>>;
    try {
      next = await buildVersion({ manifestPath: server.options.manifest, cwd: server.options.cwd, env: server.options.env, plugins: server.options.plugins, log, previous, cluster: server.cluster });
    } catch (e) {
      // Watch what the broken version names first: the file it misses may be written next.
      this.onFiles?.(referencedFiles(server.options.manifest, server.options.cwd), false);
      if (e instanceof ManifestError) {
        for (const d of e.diagnostics) if (d.severity === 'error') log.error(formatDiagnostic(d));
      } else {
        log.error(`reload failed: ${(e as Error).message}`);
      }
      log.error(`reload (${reason}) rejected: the previous version keeps serving`);
      server.metrics?.reloaded(false);
      return { ok: false, added: [], removed: [], changed: [], ms: performance.now() - started, restartNeeded: [] };
    }
    const diff = diffTables(previous.table, next.table);
    const restart = restartNeeded(previous.table.settings, next.table.settings);
    server.swap(next);
    server.metrics?.reloaded(true);
    this.onFiles?.([...next.table.files], true);
    // Timers of removed or changed routes die with their version; the others run on.
    for (const state of server.states.values()) {
      for (const event of [...diff.removed, ...diff.changed]) {
        state.timers.clear(event);
        state.timers.clear(`hook:${event}`);
      }
    }
    for (const d of next.warnings) log.warn(formatDiagnostic(d));
    if (next.dbChanged) void drain(previous, server);
    const ms = performance.now() - started;
    const parts = [diff.added.length && `+${diff.added.join(' +')}`, diff.removed.length && `-${diff.removed.join(' -')}`, diff.changed.length && `~${diff.changed.join(' ~')}`].filter(Boolean);
    log.info(
      `reloaded (${reason}) in ${ms.toFixed(0)} ms: ${parts.length ? parts.join(' ') : 'no route changed'}; version ${next.table.version}${next.dbChanged ? `; database now ${next.db.description}` : ''}`,
    );
    for (const key of restart) log.warn(`${key} changed: it takes effect after a restart`);
    return { ok: true, ...diff, ms, restartNeeded: restart };
  }
}

/** Waits for messages still running on the old database, then closes it. */
async function drain(old: Version, server: SockeyServer): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (old.table.load.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await old.db.close().catch((e) => server.log.warn(`closing the previous database failed: ${(e as Error).message}`));
  server.log.info(`previous database closed (${old.db.description})`);
}

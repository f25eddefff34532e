import type { SchedulePlan } from '../core/schedule.js';
import type { LocatedStatement } from '../db/check.js';
import { compileSchedule, SCHEDULE_PARAMS } from '../directives/schedule.js';
import type { LoadedHook } from '../directives/context.js';
import type { DiagnosticSink, ManifestSource } from '../manifest/load.js';
import type { RawManifest, RawRoute, RawSchedule } from '../manifest/types.js';
import { hookSpecs, readSqlFiles, usesHook, type RouteEntry } from './entries.js';
import type { Fingerprints } from './fingerprint.js';
import type { HookLoader } from './hook-loader.js';
import type { RouteBase } from './route.js';

/** The `event` of a schedule's statements (for `validate --db` and a reload's checks). */
export const scheduleStatementEvent = (name: string) => `schedule:${name}`;

export interface CompiledSchedules {
  schedules: Map<string, SchedulePlan>;
  statements: LocatedStatement[];
  /** Hook modules (and their imports) the schedules use, those of schedules taken over included. */
  hookFiles: Set<string>;
}

/**
 * The manifest's `schedules:`, compiled with the routes' machinery (SQL files
 * read, hooks loaded, the same action keys), each in a context of its own: no
 * user, params `{ tick, now }`. A schedule whose fingerprint did not change
 * is taken over from the previous table as it is.
 */
export async function compileSchedules(
  source: ManifestSource,
  base: Omit<RouteBase, 'at' | 'builtin'>,
  sink: DiagnosticSink,
  files: Set<string>,
  loader: HookLoader,
  fingerprints: Fingerprints,
  previous: { schedules?: ReadonlyMap<string, SchedulePlan>; hookFiles: readonly string[]; statements: readonly LocatedStatement[] } | undefined,
  refused: ReadonlySet<string> = new Set(),
): Promise<CompiledSchedules> {
  const schedules = new Map<string, SchedulePlan>();
  const statements: LocatedStatement[] = [];
  const written = (source.data as RawManifest).schedules ?? {};
  const entries: RouteEntry[] = Object.entries(written)
    .filter(([name]) => !refused.has(name))
    .map(([name, raw]) => {
      const at = ['schedules', name];
      return { event: scheduleStatementEvent(name), raw: readSqlFiles(raw as RawRoute, source, at, sink, files), at, builtin: false };
    });
  if (entries.length === 0) return { schedules, statements, hookFiles: new Set() };
  const known = new Set([...(previous?.hookFiles ?? []), ...hookSpecs(entries.map((e) => e.raw)).map((s) => loader.resolve(s).file)]);
  const digest = fingerprints.hookDigest(known);
  const hooks = new Map<string, LoadedHook>(base.hooks);
  const plans = entries.map((entry) => ({ entry, name: String(entry.at[1]), fingerprint: fingerprints.of(entry, digest) }));
  const fresh = plans.filter((p) => previous?.schedules?.get(p.name)?.fingerprint !== p.fingerprint);
  await Promise.all(hookSpecs(fresh.map((p) => p.entry.raw)).map(async (spec) => hooks.set(spec, hooks.get(spec) ?? (await loader.load(spec)))));
  // Modules may import files no one had seen: the fingerprints of what is compiled now cover them.
  if ([...loader.files].some((f) => !known.has(f))) {
    const after = fingerprints.hookDigest(new Set([...known, ...loader.files]));
    for (const p of fresh) p.fingerprint = fingerprints.of(p.entry, after);
  }
  let reusedHook = false;
  for (const { entry, name, fingerprint } of plans) {
    const reuse = previous?.schedules?.get(name);
    if (reuse && reuse.fingerprint === fingerprint) {
      schedules.set(name, reuse);
      reusedHook ||= usesHook(entry.raw);
      for (const st of previous!.statements) if (st.event === entry.event) statements.push(st);
      continue;
    }
    const ctx = {
      ...base,
      hooks,
      event: name,
      at: entry.at,
      auth: 'none' as const,
      paramNames: SCHEDULE_PARAMS,
      paramFormats: new Map<string, string>(),
      paramsClosed: true,
      schedule: true,
      builtin: false,
    };
    const { statements: texts, ...plan } = compileSchedule(name, entry.raw as RawSchedule, ctx);
    schedules.set(name, Object.freeze({ ...plan, fingerprint }));
    for (const st of texts) statements.push({ event: entry.event, ...st });
  }
  // A schedule taken over keeps using its modules: they stay watched and in the next fingerprints.
  return { schedules, statements, hookFiles: reusedHook ? new Set([...known, ...loader.files]) : new Set(loader.files) };
}

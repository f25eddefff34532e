// The wire types are the server's own (src/core/wire.ts, types only: nothing of the server is bundled).
import type { Envelope } from '../../src/core/wire.js';

export type { DataEnvelope, Envelope, ErrorEnvelope, LiveNotice, LiveStats, PlaygroundInfo, PlaygroundState, RouteSummary, ScheduleInfo } from '../../src/core/wire.js';

export function isEnvelope(v: unknown): v is Envelope {
  return typeof v === 'object' && v !== null && 'ok' in v && typeof (v as { ok: unknown }).ok === 'boolean';
}

/** A JSON Schema, loosely: the playground only reads it. */
export type Schema = Record<string, unknown>;

/** One route as the server describes it (`RouteSummary` in src/compile/types.ts). */
export interface RouteSummary {
  event: string;
  builtin: boolean;
  auth: 'none' | 'optional' | 'required';
  action: string;
  emit: string;
  params: string[];
  paramsSchema: unknown;
  timers: string[];
  rateLimit?: string;
  description?: string;
}

/** `/_sockey/routes.json`, and the `routes` event on the `/_sockey` namespace. */
export interface PlaygroundInfo {
  routes: RouteSummary[];
  socket: { data: string; error: string };
  auth: { enabled: boolean; event: string; registerEmail: boolean };
}

export interface DataEnvelope {
  ok: true;
  err: false;
  res: unknown;
}

export interface ErrorEnvelope {
  ok: false;
  err: string;
  res: false;
  code: string;
  details?: unknown;
}

export type Envelope = DataEnvelope | ErrorEnvelope;

export function isEnvelope(v: unknown): v is Envelope {
  return typeof v === 'object' && v !== null && 'ok' in v && typeof (v as { ok: unknown }).ok === 'boolean';
}

/** A JSON Schema, loosely: the playground only reads it. */
export type Schema = Record<string, unknown>;

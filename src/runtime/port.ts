/** A port from a flag or the environment that is not one (the CLI exits 2 on it: a usage error). */
export class PortError extends Error {
  readonly code = 'BAD_PORT';
  constructor(message: string) {
    super(message);
    this.name = 'PortError';
  }
}

/** Digits only, 0 to 65535 (0 = any free port); `name` is what the user set (`--port`, `SOCKEY_PORT`). */
export function parsePort(value: string, name: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n <= 65535)) throw new PortError(`${name} must be a port number from 0 to 65535, got "${value}"`);
  return n;
}

/** SOCKEY_PORT when set (an empty value counts as unset). */
export function envPort(env: NodeJS.ProcessEnv): number | undefined {
  const value = env.SOCKEY_PORT;
  return value === undefined || value === '' ? undefined : parsePort(value, 'SOCKEY_PORT');
}

import { authPlugin } from './auth/plugin.js';
import type { ServerPlugin } from './runtime/server.js';

/** The built-ins every sockey server runs with. */
export function defaultPlugins(): ServerPlugin[] {
  return [authPlugin()];
}

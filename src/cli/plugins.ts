import { authPlugin } from '../auth/plugin.js';
import { livePlugin } from '../live/plugin.js';
import type { ServerPlugin } from '../pipeline/plugin.js';

/** The built-ins every sockey server runs with. */
export function defaultPlugins(): ServerPlugin[] {
  return [authPlugin(), livePlugin()];
}

import { authPlugin } from './auth/plugin.js';
import type { BuiltinProvider } from './compile/table.js';
import type { Driver } from './db/driver.js';
import type { Settings } from './manifest/settings.js';
import type { ServerPlugin } from './runtime/server.js';

/** The built-ins every sockey server runs with. */
export function defaultPlugins(): ServerPlugin[] {
  return [authPlugin()];
}

/** The built-in routes of all plugins, as one provider for the compiler. */
export function builtinRoutes(plugins: readonly ServerPlugin[]): BuiltinProvider | undefined {
  const providers = plugins.map((p) => p.builtins).filter((b): b is BuiltinProvider => Boolean(b));
  if (providers.length === 0) return undefined;
  return (settings, driver) => {
    const merged = { at: [] as (string | number)[], routes: {} };
    for (const provide of providers) {
      const b = provide(settings, driver);
      if (b) {
        merged.at = [...b.at];
        Object.assign(merged.routes, b.routes);
      }
    }
    return merged;
  };
}

/** The built-in tables of all plugins for a database (sql/<driver>/*.sql). */
export function builtinSchemaFiles(plugins: readonly ServerPlugin[], dialect: Driver['dialect'], settings: Settings): string[] {
  return plugins.flatMap((p) => p.schemaFiles?.(dialect, { authEnabled: settings.auth.enabled }) ?? []);
}

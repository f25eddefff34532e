import type { DatabaseSettings } from '../manifest/settings.js';
import type { Driver } from './driver.js';
import { MysqlDriver } from './mysql.js';
import { SqliteDriver } from './sqlite.js';

export function openDatabase(settings: DatabaseSettings): Driver {
  if (settings.driver === 'mysql') return new MysqlDriver(settings.url!, settings.pool);
  return new SqliteDriver(settings.file);
}

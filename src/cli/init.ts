import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseVerbArgs } from './args.js';
import { EXIT, UserError, type CliIo } from './io.js';

export const initHelp = `Usage: sockey init [dir] [--force]

Scaffolds a manifest, a hook and a schema file in dir (default: .).

Options:
  --force     overwrite files that exist
  -h, --help  show this help
`;

const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/init/', import.meta.url));

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const rel = path.join(prefix, name);
    return statSync(path.join(dir, name)).isDirectory() ? listFiles(path.join(dir, name), rel) : [rel];
  });
}

export async function initCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, { force: { type: 'boolean' } });
  if (values.help) {
    io.stdout(initHelp);
    return EXIT.OK;
  }
  const dir = path.resolve(io.cwd, positionals[0] ?? '.');
  const files = listFiles(TEMPLATE_DIR);
  const existing = files.filter((f) => existsSync(path.join(dir, f)));
  if (existing.length && !values.force) {
    throw new UserError(`not overwriting ${existing.join(', ')} in ${dir} (use --force)`, EXIT.PROBLEMS);
  }
  mkdirSync(dir, { recursive: true });
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    cpSync(path.join(TEMPLATE_DIR, f), path.join(dir, f));
    io.stdout(`created ${path.relative(io.cwd, path.join(dir, f)) || f}\n`);
  }
  const rel = path.relative(io.cwd, dir);
  io.stdout(`\nNext: ${rel ? `cd ${rel} && ` : ''}npx sockey validate && npx sockey serve\n`);
  return EXIT.OK;
}

import { readFileSync } from 'node:fs';
import { dbCommand, dbHelp } from './db.js';
import { initCommand, initHelp } from './init.js';
import { EXIT, UserError, processIo, type CliIo } from './io.js';
import { asyncapiCommand, asyncapiHelp } from './asyncapi.js';
import { routesCommand, routesHelp } from './routes.js';
import { serveCommand, serveHelp } from './serve.js';
import { typesCommand, typesHelp } from './types.js';
import { validateCommand, validateHelp } from './validate.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

const HELP = `Usage: sockey <command> [sockey.yaml] [options]

Commands:
  serve [file]        serve the manifest over socket.io
  validate [file]     check the manifest; every problem as file:line:col
  routes [file]       print the compiled route table, built-ins included
  types [file]        print TypeScript declarations of the events for socket.io-client
  asyncapi [file]     print an AsyncAPI 3.0 document of the events (YAML, or --json)
  init [dir]          scaffold a manifest, a hook and a schema file
  db migrate [file]   apply the built-in tables and the schema files

The manifest defaults to ./sockey.yaml. "sockey <command> --help" for details.

Options:
  -h, --help     show this help
  -v, --version  print the version
`;

const VERBS: Record<string, { run: (argv: string[], io: CliIo) => Promise<number>; help: string }> = {
  serve: { run: serveCommand, help: serveHelp },
  validate: { run: validateCommand, help: validateHelp },
  routes: { run: routesCommand, help: routesHelp },
  types: { run: typesCommand, help: typesHelp },
  asyncapi: { run: asyncapiCommand, help: asyncapiHelp },
  init: { run: initCommand, help: initHelp },
  db: { run: dbCommand, help: dbHelp },
};

/** The verbs, in the order the help lists them (README's command table has a row for each). */
export const COMMANDS: readonly string[] = Object.keys(VERBS);

/** Runs one command line; returns the exit code. Testable in-process with a custom `io`. */
export async function cli(argv: string[], io: CliIo = processIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '-h' || verb === '--help' || verb === 'help') {
    io.stdout(HELP);
    return verb === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (verb === '-v' || verb === '--version') {
    io.stdout(`${VERSION}\n`);
    return EXIT.OK;
  }
  const command = VERBS[verb];
  if (!command) {
    io.stderr(`sockey: unknown command "${verb}"\n\n${HELP}`);
    return EXIT.USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UserError) {
      io.stderr(`sockey ${verb}: ${e.message}\n`);
      return e.exitCode;
    }
    io.stderr(`sockey ${verb}: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT.PROBLEMS;
  }
}

/** The bin entry: exit codes through process.exitCode so pending output is flushed. */
export async function main(argv: string[]): Promise<number> {
  const code = await cli(argv);
  // A serve that returned has closed everything it owns; what a hook left behind (a timer, a
  // socket of its own, a message cut off by server.drainTimeout) must not keep it running.
  if (argv[0] === 'serve') setTimeout(() => process.exit(code), 500).unref();
  return code;
}

import { parseVerbArgs } from './args.js';
import { describeManifest } from './describe.js';
import { EXIT, type CliIo } from './io.js';

export const typesHelp = `Usage: sockey types [sockey.yaml]

Prints TypeScript declarations of the manifest's events for socket.io-client:
ClientToServerEvents and ServerToClientEvents (with RouteParams, from each
route's params JSON Schema, and RouteResults). Write them to a file:

  sockey types > src/sockey-events.d.ts

  import { io, type Socket } from 'socket.io-client';
  import type { ClientToServerEvents, ServerToClientEvents } from './sockey-events';
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url);

Options:
  -h, --help  show this help
`;

export async function typesCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, {});
  if (values.help) {
    io.stdout(typesHelp);
    return EXIT.OK;
  }
  const model = await describeManifest(positionals[0] ?? 'sockey.yaml', io);
  if (!model) return EXIT.PROBLEMS;
  // Loaded here: json-schema-to-typescript (and the prettier it brings) is large, and `serve` never needs it.
  const { typescriptDeclarations } = await import('../describe/typescript.js');
  io.stdout(await typescriptDeclarations(model));
  return EXIT.OK;
}

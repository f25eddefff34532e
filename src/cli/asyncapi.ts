import { stringify } from 'yaml';
import { asyncapiDocument } from '../describe/asyncapi.js';
import { parseVerbArgs } from './args.js';
import { describeManifest } from './describe.js';
import { EXIT, type CliIo } from './io.js';

export const asyncapiHelp = `Usage: sockey asyncapi [sockey.yaml] [--json]

Prints an AsyncAPI 3.0 document of the manifest's events, from a client's
point of view: channels are socket.io events; a client sends the routes'
events (with an ack that gets the reply) and receives <event>_data,
<event>_error and the events routes emit. Payloads are the params JSON
Schemas and the envelopes.

Options:
  --json      print JSON instead of YAML
  -h, --help  show this help
`;

export async function asyncapiCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerbArgs(argv, { json: { type: 'boolean' } });
  if (values.help) {
    io.stdout(asyncapiHelp);
    return EXIT.OK;
  }
  const model = await describeManifest(positionals[0] ?? 'sockey.yaml', io);
  if (!model) return EXIT.PROBLEMS;
  const doc = asyncapiDocument(model);
  io.stdout(values.json ? JSON.stringify(doc, null, 2) + '\n' : stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 }));
  return EXIT.OK;
}

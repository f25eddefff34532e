import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parsePort as parsePortValue } from '../runtime/port.js';
import { UserError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with sockey's conventions: usage errors become UserError, one optional manifest positional. */
export type ParsedValues<O extends Options> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean } & { help?: boolean };

export function parseVerbArgs<O extends Options>(argv: string[], options: O, maxPositionals = 1): { values: ParsedValues<O>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (parsed.positionals.length > maxPositionals) throw new UserError(`unexpected argument: ${parsed.positionals[maxPositionals]}`);
    return { values: parsed.values as ParsedValues<O>, positionals: parsed.positionals };
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError((e as Error).message);
  }
}

export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parsePortValue(value, '--port');
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

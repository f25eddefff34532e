import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/index.js';
import { ERROR_CODES } from '../src/core/errors.js';
import { DIAGNOSTIC_CODES } from '../src/manifest/diagnostics.js';
import { ROOT } from './support/child.js';

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  expect(start, `README has a "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

/** The codes a section's tables list: rows that start with a `CODE` cell. */
const tableCodes = (text: string) => [...text.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!);

describe('README.md documents every code', () => {
  it('every error code (ERROR_CODES) has a row in the table under "The wire protocol", and every row is a code', () => {
    const documented = tableCodes(section('The wire protocol'));
    const codes = Object.keys(ERROR_CODES);
    expect(codes.length).toBeGreaterThan(5);
    expect(
      codes.filter((c) => !documented.includes(c)),
      'error codes missing from the README',
    ).toEqual([]);
    expect(
      documented.filter((c) => !codes.includes(c)),
      'README rows for codes that do not exist',
    ).toEqual([]);
  });

  it('every diagnostic code (DIAGNOSTIC_CODES) appears in README.md, with a row under "The command line"', () => {
    const codes = Object.keys(DIAGNOSTIC_CODES);
    expect(codes.length).toBeGreaterThan(10);
    expect(
      codes.filter((c) => !README.includes(`\`${c}\``)),
      'diagnostic codes missing from the README',
    ).toEqual([]);
    const documented = tableCodes(section('The command line'));
    expect(
      codes.filter((c) => !documented.includes(c)),
      'diagnostic codes without a row',
    ).toEqual([]);
    expect(
      documented.filter((c) => !codes.includes(c)),
      'README rows for diagnostic codes that do not exist',
    ).toEqual([]);
  });

  it('every verb of the command line has a row in the table under "The command line", and every row is a verb', () => {
    const rows = [...section('The command line').matchAll(/^\| `sockey ([a-z]+)\b/gm)].map((m) => m[1]!);
    expect(COMMANDS).toContain('types');
    expect(COMMANDS.filter((c) => !rows.includes(c))).toEqual([]);
    expect(rows.filter((r) => !COMMANDS.includes(r))).toEqual([]);
  });
});

import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchServer, type Watching } from '../src/reload/watcher.js';
import { eventually, ok } from './support/flow.js';
import { armWatcher, rejectedLines, reloadedLines, spacedWriter, untilReply } from './support/reload-util.js';
import { sleep, startServer, type TestServer } from './support/util.js';

let t: TestServer | undefined;
let w: Watching | undefined;

afterEach(async () => {
  await w?.close();
  w = undefined;
  await t?.close();
  t = undefined;
});

const logged = (t: TestServer, text: string) => t.logs.lines.some((l) => String(l.msg).includes(text));

/**
 * The ways editors save a file. Each ends with the new text at `file`;
 * `t` is there for a style that waits on the server's log.
 */
const SAVES: Record<string, (t: TestServer, file: string, text: string) => Promise<void>> = {
  // Most editors, vim with backupcopy=yes.
  'in place': async (_t, file, text) => writeFileSync(file, text),
  // JetBrains "safe write", many formatters: a temp file renamed over the original.
  'write a temp file, rename it over': async (_t, file, text) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  },
  // Emacs, vim with backupcopy=no: the old file becomes the backup, the new one is written tens of ms later.
  'rename away, write 30 ms later': async (_t, file, text) => {
    renameSync(file, `${file}~`);
    await sleep(30);
    writeFileSync(file, text);
  },
  // The same with a slow disk or a big file: the server sees the file gone before it is back.
  'rename away, write 400 ms later': async (t, file, text) => {
    const start = Date.now();
    renameSync(file, `${file}~`);
    await eventually(() => logged(t, `${path.relative(t.dir, file)} disappeared`), Boolean, 'the disappearance to be logged');
    await sleep(Math.max(0, 400 - (Date.now() - start)));
    writeFileSync(file, text);
  },
  'delete, then create': async (_t, file, text) => {
    unlinkSync(file);
    await sleep(30);
    writeFileSync(file, text);
  },
};

const manifest = (n: number, withHook: boolean) =>
  `version: 1\ndatabase: { driver: sqlite, file: ./data/app.db }\nroutes:\n  n: { reply: ${n} }\n${withHook ? '  greet: { hook: ./hooks/greet.ts#greet }\n' : ''}`;
const hook = (word: string) => `export async function greet() {\n  return '${word}';\n}\n`;

async function serve(withHook: boolean) {
  t = await startServer(manifest(1, withHook), { 'package.json': '{ "type": "module" }\n', 'hooks/greet.ts': hook('one') });
  w = watchServer(t.server);
  await armWatcher(t);
  return { t, client: await t.client(), write: spacedWriter(t) };
}

describe('hot reload keeps watching through every way an editor saves', () => {
  for (const withHook of [false, true]) {
    describe(withHook ? 'the manifest, with a hook route' : 'the manifest, without a hook route', () => {
      it.each(Object.keys(SAVES))('%s: that save goes live, and so does a later in-place edit', async (style) => {
        const { t, client, write } = await serve(withHook);
        await SAVES[style]!(t, path.join(t.dir, 'sockey.yaml'), manifest(2, withHook));
        await untilReply(client, 'n', undefined, ok(2), `the ${style} save to go live`);
        await write('sockey.yaml', manifest(3, withHook));
        await untilReply(client, 'n', undefined, ok(3), 'the later edit to go live');
        await write('sockey.yaml', manifest(4, withHook));
        await untilReply(client, 'n', undefined, ok(4), 'one more edit to go live');
        // The file being away for a moment is not a broken version.
        expect(rejectedLines(t)).toEqual([]);
      });
    });
  }

  it.each(['rename away, write 30 ms later', 'rename away, write 400 ms later', 'delete, then create'])('a hook file saved "%s" goes live, and so does a later in-place edit', async (style) => {
    const { t, client, write } = await serve(true);
    expect(await client.timeout(3000).emitWithAck('greet')).toEqual(ok('one'));
    await SAVES[style]!(t, path.join(t.dir, 'hooks/greet.ts'), hook('two'));
    await untilReply(client, 'greet', undefined, ok('two'), `the ${style} save of the hook to go live`);
    await write('hooks/greet.ts', hook('three'));
    await untilReply(client, 'greet', undefined, ok('three'), 'the later hook edit to go live');
    expect(rejectedLines(t)).toEqual([]);
  });

  it('a file that is gone for a while is logged as gone and back; its absence is not a reload', async () => {
    const { t, client } = await serve(true);
    const file = path.join(t.dir, 'sockey.yaml');
    const reloads = reloadedLines(t).length;
    renameSync(file, `${file}~`);
    await eventually(() => logged(t, 'sockey.yaml disappeared'), Boolean, 'the disappearance to be logged');
    expect(t.logs.lines.map((l) => l.msg)).toContain('sockey.yaml disappeared: the current version keeps serving until it is back');
    expect(await client.timeout(3000).emitWithAck('n')).toEqual(ok(1));
    writeFileSync(file, manifest(2, true));
    await untilReply(client, 'n', undefined, ok(2), 'the file coming back to go live');
    expect(t.logs.lines.map((l) => l.msg)).toContain('sockey.yaml is back');
    // One reload for the whole episode: the disappearance itself reloaded nothing.
    expect(reloadedLines(t).length).toBe(reloads + 1);
    expect(rejectedLines(t)).toEqual([]);
  });
});

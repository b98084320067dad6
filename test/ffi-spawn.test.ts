// posix_spawn through FFI keeps the file actions of the moves it has seen (a server's descriptor
// numbers repeat): a kept one must still give the child whatever file the number holds now.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { libc, reapChild, spawnAsync, spawnNow } from '../src/ffi';
import { tempDir } from './support/tmp';

describe('posix_spawn with kept file actions', { skip: !libc() && 'FFI (koffi) not available' }, () => {
  it('gives the child the file a descriptor number holds at each spawn', async () => {
    const lib = libc()!;
    const dir = tempDir();
    const waitFor = async (pid: number) => {
      for (let i = 0; i < 500 && reapChild(lib, pid) === null; i++) await new Promise((r) => setTimeout(r, 10));
    };
    for (const [n, spawn] of [
      [0, (plan: Parameters<typeof spawnNow>[1]) => Promise.resolve(spawnNow(lib, plan))],
      [1, (plan: Parameters<typeof spawnNow>[1]) => spawnAsync(lib, plan)],
    ] as const) {
      const outputs: string[] = [];
      for (const word of ['first', 'second', 'third']) {
        const out = join(dir, `${n}-${word}`);
        writeFileSync(out, '');
        // the same number every time: the lowest free one
        const fd = openSync(out, 'w');
        const pid = await spawn({ path: '/bin/sh', argv: ['sh', '-c', `echo ${word}`], env: [], moves: [[fd, 1]] });
        closeSync(fd);
        await waitFor(pid);
        outputs.push(readFileSync(out, 'latin1'));
      }
      assert.deepEqual(outputs, ['first\n', 'second\n', 'third\n']);
    }
  });
});

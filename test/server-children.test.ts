// The FFI launcher and its reaper, inside this test process: its children are reaped and reported
// with their raw wait status, and child_process's children in the same process are left alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { libc } from '../src/ffi';
import { makeLauncher } from '../src/server/children';

describe('posix_spawn launcher', { skip: !libc() && 'FFI (koffi) not available' }, () => {
  it('reaps only its own children, each once, with the raw wait status', async () => {
    const launcher = makeLauncher([]);
    assert.equal(launcher.kind, 'posix_spawn');
    const exits = new Map<number, number>();
    let allExited: () => void = () => {};
    const done = new Promise<void>((r) => (allExited = r));
    const N = 40;
    launcher.onExit = (pid, status) => {
      assert.equal(exits.has(pid), false, `pid ${pid} reported twice`);
      exits.set(pid, status);
      if (exits.size === N) allExited();
    };
    // a descriptor to stand in for the connection (the launcher dup2s it onto 0 and 1)
    const fd = openSync('/dev/null', 'r+');
    const launched: Array<Promise<number>> = [];
    const nodeChildren: Array<Promise<number | null>> = [];
    for (let i = 0; i < N; i++) {
      // both ways of spawning: on this thread (idle) and on koffi's workers
      const idle = i % 2 === 0;
      launched.push(launcher.launch({ program: 'sh', argv: ['sh', '-c', `exit ${i % 5}`], env: [], socket: new Socket(), fd, idle }));
      // child_process children exiting at the same time: libuv must still see every one of them
      nodeChildren.push(new Promise((r) => spawn('sh', ['-c', `exit ${(i % 3) + 10}`]).on('exit', (code) => r(code))));
    }
    const pids = await Promise.all(launched);
    const codes = await Promise.all(nodeChildren);
    await done;
    closeSync(fd);
    assert.deepEqual(
      codes,
      Array.from({ length: N }, (_, i) => (i % 3) + 10),
    );
    pids.forEach((pid, i) => assert.equal(exits.get(pid), (i % 5) << 8));
  });

  it('reports a program that cannot run as an errno error', async () => {
    const launcher = makeLauncher([]);
    const fd = openSync('/dev/null', 'r+');
    for (const idle of [false, true]) {
      await assert.rejects(
        launcher.launch({ program: 'no-such-program', argv: ['no-such-program'], env: [], socket: new Socket(), fd, idle }),
        (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
      );
    }
    closeSync(fd);
  });
});

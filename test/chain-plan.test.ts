// The chain read from tcpserver's program argv: which programs are ours, how each link's arguments
// are parsed (exactly as the standalone program parses them), when $PATH is searched again; and the
// in-process programs' streams.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ChainPlanner, planChain, RECHECK_MS } from '../src/chain/plan';
import { filterProgram } from '../src/chain/programs';
import { executableOnPath, ourBinDir, OurPrograms } from '../src/chain/recognise';
import { startInProcess } from '../src/server/program';
import { BIN } from './support/programs';
import { tempDir } from './support/tmp';

const ours = new OurPrograms(ourBinDir());
const PATH = `${BIN}:/usr/bin:/bin`;
const dir = tempDir('chain-plan-');

describe('recognising our programs', () => {
  it("finds this installation's bin/ from the compiled module", () => {
    assert.equal(ourBinDir(), BIN);
    assert.equal(ours.empty, false);
  });

  it('by the file the exec would reach, never by the name', () => {
    assert.equal(ours.helperAt('rblsmtpd', PATH), 'rblsmtpd');
    assert.equal(ours.helperAt(join(BIN, 'recordio'), '/usr/bin'), 'recordio');
    assert.equal(ours.helperAt('rblsmtpd', '/usr/bin:/bin'), null, 'the C rblsmtpd, or none at all');
    assert.equal(ours.helperAt('tcpclient', PATH), null, 'ours, but not one that runs in the server');
    assert.equal(ours.helperAt('sh', PATH), null);
  });

  it('passes over what the exec would pass over: missing, not executable, a directory', () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mkdirSync(a);
    mkdirSync(join(b, 'rblsmtpd'), { recursive: true });
    writeFileSync(join(a, 'rblsmtpd'), '#!/bin/sh\n', { mode: 0o644 });
    assert.equal(executableOnPath('rblsmtpd', `${join(dir, 'none')}:${a}:${b}:${BIN}`), join(BIN, 'rblsmtpd'));
    assert.equal(ours.helperAt('rblsmtpd', `${a}:${b}:${BIN}`), 'rblsmtpd');
    assert.equal(executableOnPath('rblsmtpd', `${a}:${b}`), null);
  });
});

describe('reading the chain', () => {
  const plan = (argv: string[], path = PATH) => planChain(argv, ours, path);

  it("rblsmtpd's options as its getopt reads them, then the next link", () => {
    assert.deepEqual(plan(['rblsmtpd', '-bt5', '-r', 'a', '-ra:b', 'recordio', 'qmail-smtpd', 'x']), {
      links: [
        { kind: 'rblsmtpd', options: [{ letter: 'b' }, { letter: 't', arg: '5' }, { letter: 'r', arg: 'a' }, { letter: 'r', arg: 'a:b' }] },
        { kind: 'recordio' },
      ],
      end: { kind: 'program', file: 'qmail-smtpd', argv: ['qmail-smtpd', 'x'] },
      runner: 'recordio',
    });
  });

  it('nothing in-process when the first program is not ours', () => {
    assert.equal(plan(['qmail-smtpd', 'rblsmtpd']), null);
    assert.equal(plan(['rblsmtpd', '-r', 'a', 'x'], '/usr/bin:/bin'), null);
  });

  it('a link with a usage error runs as a program (it prints its own usage)', () => {
    assert.equal(plan(['rblsmtpd', '-R', 'x']), null);
    assert.equal(plan(['rblsmtpd', '-r']), null);
    assert.equal(plan(['rblsmtpd', '-r', 'a']), null);
    assert.equal(plan(['recordio']), null);
    assert.equal(plan(['argv0', 'sh']), null);
    assert.deepEqual(plan(['fixcrio', 'rblsmtpd', '-R', 'x']), {
      links: [{ kind: 'fixcrio' }],
      end: { kind: 'program', file: 'rblsmtpd', argv: ['rblsmtpd', '-R', 'x'] },
      runner: 'fixcrio',
    });
  });

  it('recordio and fixcrio take no options: the first argument is the program', () => {
    assert.deepEqual(plan(['recordio', '-x', 'y'])?.end, { kind: 'program', file: '-x', argv: ['-x', 'y'] });
  });

  it('argv0 renames the next program, which is found by its real name', () => {
    assert.deepEqual(plan(['argv0', 'sh', 'zero', '-c', 'x']), {
      links: [{ kind: 'argv0' }],
      end: { kind: 'program', file: 'sh', argv: ['zero', '-c', 'x'] },
      runner: 'argv0',
    });
    assert.deepEqual(plan(['argv0', 'rblsmtpd', 'whatever', '-t0', 'prog'])?.links, [
      { kind: 'argv0' },
      { kind: 'rblsmtpd', options: [{ letter: 't', arg: '0' }] },
    ]);
  });

  it('addcr and delcr end the chain, arguments ignored', () => {
    assert.deepEqual(plan(['addcr', 'rblsmtpd', 'x']), { links: [], end: { kind: 'filter', filter: 'addcr' }, runner: null });
    assert.deepEqual(plan(['recordio', 'delcr']), {
      links: [{ kind: 'recordio' }],
      end: { kind: 'filter', filter: 'delcr' },
      runner: 'recordio',
    });
  });

  it('$PATH is searched again once a second, per $PATH value', () => {
    const early = join(dir, 'early');
    mkdirSync(early);
    const path = `${early}:${PATH}`;
    const planner = new ChainPlanner(['rblsmtpd', '-r', 'a', 'prog'], ours);
    assert.notEqual(planner.planFor(path, 1000), null);
    writeFileSync(join(early, 'rblsmtpd'), '#!/bin/sh\n', { mode: 0o755 });
    assert.notEqual(planner.planFor(path, 1000 + RECHECK_MS - 1), null, 'not searched again yet');
    assert.equal(planner.planFor(`${early}:${PATH}:`, 1000), null, 'another $PATH is searched at once');
    assert.equal(planner.planFor(path, 1000 + RECHECK_MS), null);
  });
});

describe('in-process programs', () => {
  it('hold back their input while the client does not read their output', async () => {
    const p = startInProcess(1, (out) => ({ input: (chunk) => out.write(Buffer.alloc(chunk.length * 4)), inputEnded: () => out.exit(0) }));
    let accepted = 0;
    while (accepted < 1000 && p.toProgram.write(Buffer.alloc(1024))) accepted++;
    assert.ok(accepted < 64, `the program took ${accepted} KiB with nobody reading its output`);
    let read = 0;
    p.fromProgram.on('data', (d: Buffer) => (read += d.length));
    const ended = new Promise((resolve) => p.fromProgram.once('end', resolve));
    await new Promise((resolve) => p.toProgram.once('drain', resolve));
    p.toProgram.destroy();
    assert.equal(await p.exited, 0);
    await ended;
    assert.equal(read, (accepted + 1) * 4096);
  });

  it('a program whose reader goes away ends as if killed by SIGPIPE', async () => {
    const p = startInProcess(1, () => ({ input: () => {}, inputEnded: () => {} }));
    p.fromProgram.destroy();
    assert.equal(await p.exited, 13);
  });

  it('delcr gives the CR it held back at the end of its input', async () => {
    const p = filterProgram('delcr').start(1);
    const chunks: Buffer[] = [];
    p.fromProgram.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise((resolve) => p.fromProgram.once('end', resolve));
    p.toProgram.write('a\r\nb\r');
    p.toProgram.destroy();
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), 'a\nb\r');
    assert.equal(await p.exited, 0);
  });
});

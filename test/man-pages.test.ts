// The man pages: every program in package.json `bin` has a doc page in the classic sections, the
// package declares and ships a page for each, and every page pandoc built renders through groff
// (as man does) without a single warning.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  docPages,
  havePandoc,
  MAN_DIR,
  manMarkdown,
  packageJson,
  readDocPage,
  REQUIRED_SECTIONS,
  sectionProblems,
} from '../tools/man-pages';

const pkg = packageJson();
const programs = Object.keys(pkg.bin);
const pages = docPages();
const noPandoc = !havePandoc() && 'pandoc not installed (apt-get install pandoc): the man pages are not built';
const noGroff = spawnSync('groff', ['--version'], { stdio: 'ignore' }).status !== 0 && 'groff not installed';

describe('man pages', () => {
  it('every program has a doc page in the classic sections, and every program page is a program', () => {
    for (const program of programs) {
      const page = pages.get(program);
      assert.ok(page, `doc/${program}.md must start with "# ${program} -- <what it does>"`);
      assert.deepEqual(sectionProblems(page), [], `doc/${program}.md`);
      assert.match(page.summary, /^[a-z]/, `doc/${program}.md: the NAME summary starts in lowercase, as man's do`);
    }
    assert.deepEqual([...pages.keys()].sort(), [...programs].sort());
  });

  it('package.json declares a page for every program and ships them', () => {
    assert.deepEqual(
      pkg.man,
      programs.map((p) => `./dist/man/man1/${p}.1`),
    );
    assert.ok(pkg.files?.includes('dist/man'));
  });

  it('tells a page with a missing or misplaced section', () => {
    const page = (sections: string[]) => readDocPage(`# x -- does x\n\n${sections.map((t) => `## ${t}\n\ntext\n`).join('\n')}`)!;
    assert.deepEqual(
      sectionProblems(page(['Synopsis', 'Description', 'Options', 'Environment', 'Exit status', 'Examples', 'See also'])),
      [],
    );
    assert.deepEqual(
      sectionProblems(page(['Synopsis', 'Description', 'Options', 'Notes', 'Environment', 'Bugs', 'Exit status', 'Examples', 'See also'])),
      [],
      'other sections may stand between',
    );
    assert.deepEqual(sectionProblems(page(['Synopsis', 'Options', 'Environment', 'Exit status', 'Examples', 'See also'])), [
      'no "## DESCRIPTION" section',
    ]);
    assert.deepEqual(sectionProblems(page(['Synopsis', 'Description', 'Environment', 'Options', 'Exit status', 'Examples', 'See also'])), [
      '"## ENVIRONMENT" comes before "## OPTIONS"',
    ]);
    assert.equal(readDocPage('# x\n\n## Synopsis\n'), null, 'no NAME line, no man page');
    // a ## inside a fenced block is no section
    assert.deepEqual(readDocPage('# x -- y\n\n```\n## Synopsis\n```\n')!.sections, []);
    assert.equal(REQUIRED_SECTIONS.length, 7);
  });

  it('gives pandoc a NAME section from the first line', () => {
    const page = readDocPage('# tcpcat -- print what a TCP server sends\n\n## Synopsis\n')!;
    assert.equal(manMarkdown(page), '## NAME\n\ntcpcat - print what a TCP server sends\n\n## Synopsis\n');
  });

  it('every page renders without warnings, with its NAME line', { skip: noPandoc || noGroff }, () => {
    for (const program of programs) {
      const file = join(MAN_DIR, `${program}.1`);
      assert.ok(existsSync(file), `${file} (npm run build makes it)`);
      // what man runs for a page with tables: tbl, troff with every warning on
      const r = spawnSync('groff', ['-man', '-t', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8' });
      assert.equal(r.stderr, '', `${program}.1`);
      assert.equal(r.status, 0);
      const shown = spawnSync('man', ['-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' } });
      if (shown.error) continue; // man-db not installed: groff's word is enough
      const firstWord = pages.get(program)!.summary.split(' ')[0];
      assert.match(shown.stdout, new RegExp(`^NAME\\n +${program} +- ${firstWord} `, 'm'), `${program}.1`);
      for (const section of REQUIRED_SECTIONS) assert.match(shown.stdout, new RegExp(`^${section}$`, 'm'), `${program}.1`);
    }
  });
});

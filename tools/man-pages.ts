// Man pages from the doc pages, with pandoc (Debian's package; .ci/run installs it), at build time.
//
// What a doc page must look like to become a man page (doc/CONTRIBUTING-docs.md says it at length):
//   - it is doc/<program>.md, <program> a key of package.json `bin`;
//   - its first line is `# <program> -- <what it does, lowercase, no full stop>` (the NAME line);
//   - its `##` sections include, in this order, Synopsis, Description, Options, Environment,
//     Exit status, Examples, See also (any case); other `##` sections may stand between them;
//   - links to other doc pages and to anchors become plain text in the man page; URLs stay.
// Every such page becomes dist/man/man1/<program>.1, and package.json `man` lists them all.
//
// Usage: node dist/tools/man-pages.js [--require]
//   Without pandoc the pages are not built (a notice, exit 0), so the code builds and tests run on
//   a machine without it; --require (npm pack's prepack) makes that, and any bad page, an error.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const DOC_DIR = join(ROOT, 'doc');
export const MAN_DIR = join(ROOT, 'dist', 'man', 'man1');
const FILTER = join(ROOT, 'tools', 'man-links.lua');

/** The sections every program's page has, in the classic order. */
export const REQUIRED_SECTIONS = ['SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'ENVIRONMENT', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO'];

const NAME_LINE = /^# (\S+) -- (\S.*)$/;

export interface DocPage {
  readonly program: string;
  readonly summary: string;
  /** `##` section titles, uppercased, in order */
  readonly sections: readonly string[];
  readonly text: string;
}

/** A doc page's name line and sections, or null when its first line is no NAME line. */
export function readDocPage(text: string): DocPage | null {
  const m = NAME_LINE.exec(text.slice(0, text.indexOf('\n') >>> 0));
  if (!m) return null;
  const sections: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && line.startsWith('## ')) sections.push(line.slice(3).trim().toUpperCase());
  }
  return { program: m[1], summary: m[2], sections, text };
}

/** What is wrong with a page's sections ([] when nothing). */
export function sectionProblems(page: DocPage): string[] {
  const problems: string[] = [];
  let at = -1;
  for (const want of REQUIRED_SECTIONS) {
    const i = page.sections.indexOf(want);
    if (i < 0) problems.push(`no "## ${want}" section`);
    else if (i < at) problems.push(`"## ${want}" comes before "## ${REQUIRED_SECTIONS[REQUIRED_SECTIONS.indexOf(want) - 1]}"`);
    else at = i;
  }
  return problems;
}

export function packageJson(): { version: string; bin: Record<string, string>; man?: string[]; files?: string[] } {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
}

/** Every doc page with a NAME line, by program. */
export function docPages(): Map<string, DocPage> {
  const pages = new Map<string, DocPage>();
  for (const f of readdirSync(DOC_DIR).sort()) {
    if (!f.endsWith('.md')) continue;
    const page = readDocPage(readFileSync(join(DOC_DIR, f), 'utf8'));
    if (page && f === `${page.program}.md`) pages.set(page.program, page);
  }
  return pages;
}

/** The markdown pandoc gets: the NAME line as a NAME section, the `##` sections as the man sections. */
export function manMarkdown(page: DocPage): string {
  const rest = page.text.slice(page.text.indexOf('\n') + 1);
  return `## NAME\n\n${page.program} - ${page.summary}\n${rest}`;
}

export function havePandoc(): boolean {
  return spawnSync('pandoc', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Build dist/man/man1/<program>.1 for each page. Returns the problems (none: []). */
export function buildManPages(pages: Iterable<DocPage>, version: string): string[] {
  mkdirSync(MAN_DIR, { recursive: true });
  const problems: string[] = [];
  for (const page of pages) {
    const r = spawnSync(
      'pandoc',
      [
        '--from=gfm',
        '--to=man',
        '--standalone',
        '--shift-heading-level-by=-1',
        `--lua-filter=${FILTER}`,
        `--metadata=title:${page.program}`,
        '--metadata=section:1',
        `--metadata=footer:ucspi-ts ${version}`,
        '--metadata=header:ucspi-ts',
        '--metadata=date:',
      ],
      { input: manMarkdown(page), encoding: 'utf8', timeout: 60_000 },
    );
    if (r.status !== 0) problems.push(`${page.program}: pandoc failed: ${r.stderr || r.error}`);
    else writeFileSync(join(MAN_DIR, `${page.program}.1`), r.stdout);
  }
  return problems;
}

function main(): void {
  const strict = process.argv.includes('--require');
  const pkg = packageJson();
  const pages = docPages();
  const problems: string[] = [];
  const good: DocPage[] = [];
  for (const program of Object.keys(pkg.bin)) {
    const page = pages.get(program);
    if (!page) {
      problems.push(`${program}: no doc/${program}.md starting with "# ${program} -- ..."`);
      continue;
    }
    const wrong = sectionProblems(page);
    problems.push(...wrong.map((p) => `doc/${program}.md: ${p}`));
    if (wrong.length === 0) good.push(page);
  }
  if (havePandoc()) problems.push(...buildManPages(good, pkg.version));
  else if (strict) problems.push('pandoc not found: man pages not built (apt-get install pandoc)');
  else process.stderr.write('man-pages: pandoc not found, man pages not built (apt-get install pandoc)\n');
  if (strict) {
    for (const p of pkg.man ?? []) if (!existsSync(join(ROOT, p))) problems.push(`package.json man: ${p} not built`);
  }
  for (const p of problems) process.stderr.write(`man-pages: ${p}\n`);
  if (problems.length && strict) process.exit(1);
}

if (require.main === module) main();

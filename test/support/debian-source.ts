// Debian's source package of ucspi-tcp, for its own test suite (debian/tests). Fetched with apt from
// the machine's own sources (their deb-src twins, in a private list: the machine's apt configuration
// is not touched), unpacked once per machine into the temporary directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineAptSources, sourceTwins } from './apt-sources';

const DIR = join(tmpdir(), 'ucspi-ts-debian-source');
const TESTS = join(DIR, 'debian', 'tests');

let cached: string | null | undefined;

/** debian/tests of Debian's ucspi-tcp source package, or null when it cannot be had. */
export function debianTestsDir(): string | null {
  if (cached !== undefined) return cached;
  if (existsSync(join(TESTS, 'python'))) return (cached = TESTS);
  const twins = sourceTwins(machineAptSources());
  if (twins === '') return (cached = null);
  try {
    mkdirSync(DIR, { recursive: true });
    const work = mkdtempSync(join(DIR, 'work-'));
    const parts = join(work, 'sources');
    mkdirSync(join(work, 'lists', 'partial'), { recursive: true });
    mkdirSync(parts);
    writeFileSync(join(parts, 'machine-src.sources'), twins);
    const apt = (...args: string[]) =>
      spawnSync(
        'apt-get',
        [
          '-q',
          '-o',
          'Dir::Etc::SourceList=/dev/null',
          '-o',
          `Dir::Etc::SourceParts=${parts}`,
          '-o',
          `Dir::State::Lists=${join(work, 'lists')}`,
          ...args,
        ],
        { cwd: work, stdio: 'ignore', timeout: 180_000 },
      );
    apt('update');
    apt('source', '--download-only', 'ucspi-tcp');
    const tarball = readdirSync(work).find((f) => f.endsWith('.debian.tar.xz'));
    if (tarball) spawnSync('tar', ['xJf', tarball], { cwd: work, stdio: 'ignore', timeout: 60_000 });
    if (existsSync(join(work, 'debian', 'tests', 'python'))) {
      try {
        renameSync(join(work, 'debian'), join(DIR, 'debian'));
      } catch {
        // another test process unpacked it first
      }
    }
    rmSync(work, { recursive: true, force: true });
  } catch {
    return (cached = null);
  }
  return (cached = existsSync(join(TESTS, 'python')) ? TESTS : null);
}

// Debian's ucspi-tcp-ipv6 binaries for differential tests. The package conflicts with ucspi-tcp,
// so it is never installed: its .deb is fetched with apt (Debian's configured mirror only) and
// unpacked once per machine into the temporary directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIR = join(tmpdir(), 'ucspi-ts-debian-ipv6');
const BIN = join(DIR, 'root', 'usr', 'bin');

let cached: string | null | undefined;

/** Directory holding the IPv6 variant's binaries, or null when the package cannot be had. */
export function debianIpv6Bin(): string | null {
  if (cached !== undefined) return cached;
  if (existsSync(join(BIN, 'tcpserver'))) return (cached = BIN);
  try {
    mkdirSync(DIR, { recursive: true });
    // test files run in parallel: fetch and unpack privately, then rename into place (atomic)
    const work = mkdtempSync(join(DIR, 'work-'));
    spawnSync('apt-get', ['download', '-q', 'ucspi-tcp-ipv6'], { cwd: work, stdio: 'ignore', timeout: 120_000 });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (deb) spawnSync('dpkg-deb', ['-x', join(work, deb), join(work, 'root')], { stdio: 'ignore', timeout: 60_000 });
    if (existsSync(join(work, 'root', 'usr', 'bin', 'tcpserver'))) {
      try {
        renameSync(join(work, 'root'), join(DIR, 'root'));
      } catch {
        // another test process got there first: its copy is as good as ours
      }
    }
    rmSync(work, { recursive: true, force: true });
  } catch {
    return (cached = null);
  }
  return (cached = existsSync(join(BIN, 'tcpserver')) ? BIN : null);
}

/** Skip reason for a test needing the IPv6 variant, or false. */
export function needDebianIpv6(): string | false {
  return debianIpv6Bin() ? false : 'Debian ucspi-tcp-ipv6 not available (apt-get download ucspi-tcp-ipv6 failed)';
}

// Debian's ucspi-tcp-ipv6 binaries for differential tests. The package conflicts with ucspi-tcp,
// so it is never installed: its .deb is fetched with apt (Debian's configured mirror only) and
// unpacked once per machine into the temporary directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
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
    if (!readdirSync(DIR).some((f) => f.endsWith('.deb'))) {
      spawnSync('apt-get', ['download', '-q', 'ucspi-tcp-ipv6'], { cwd: DIR, stdio: 'ignore', timeout: 120_000 });
    }
    const deb = readdirSync(DIR).find((f) => f.endsWith('.deb'));
    if (!deb) return (cached = null);
    spawnSync('dpkg-deb', ['-x', join(DIR, deb), join(DIR, 'root')], { stdio: 'ignore', timeout: 60_000 });
  } catch {
    return (cached = null);
  }
  return (cached = existsSync(join(BIN, 'tcpserver')) ? BIN : null);
}

/** Skip reason for a test needing the IPv6 variant, or false. */
export function needDebianIpv6(): string | false {
  return debianIpv6Bin() ? false : 'Debian ucspi-tcp-ipv6 not available (apt-get download ucspi-tcp-ipv6 failed)';
}

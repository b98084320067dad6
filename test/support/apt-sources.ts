// The machine's apt sources, read from its own configuration (the one-line `sources.list` format
// and deb822 `.sources` files), and the deb-src twins of its binary sources: what `apt-get source`
// needs on a machine configured for binary packages only. No mirror is named here: whatever the
// machine uses is used.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AptSource {
  readonly types: readonly string[];
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly components: readonly string[];
  /** other fields (Signed-By, Architectures, Trusted ...), deb822 names */
  readonly options: ReadonlyMap<string, string>;
}

/** One-line option names (`[signed-by=...]`) as deb822 fields. */
const ONE_LINE_OPTIONS: Record<string, string> = {
  arch: 'Architectures',
  lang: 'Languages',
  target: 'Targets',
  pdiffs: 'PDiffs',
  'by-hash': 'By-Hash',
  'allow-insecure': 'Allow-Insecure',
  'allow-weak': 'Allow-Weak',
  'allow-downgrade-to-insecure': 'Allow-Downgrade-To-Insecure',
  trusted: 'Trusted',
  'signed-by': 'Signed-By',
  'check-valid-until': 'Check-Valid-Until',
  'valid-until-min': 'Valid-Until-Min',
  'valid-until-max': 'Valid-Until-Max',
  'check-date': 'Check-Date',
  'date-max-future': 'Date-Max-Future',
  'inrelease-path': 'InRelease-Path',
};

/** Entries of the one-line format: `deb [opt=v ...] uri suite [component ...]`. */
export function parseSourcesList(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.replace(/#.*/, '').trim();
    const type = /^(deb|deb-src)\s+/.exec(line);
    if (!type) continue;
    line = line.slice(type[0].length);
    const options = new Map<string, string>();
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      if (end < 0) continue;
      for (const o of line.slice(1, end).trim().split(/\s+/)) {
        const eq = o.indexOf('=');
        if (eq <= 0) continue;
        const name = o.slice(0, eq).replace(/[+-]$/, '');
        options.set(ONE_LINE_OPTIONS[name] ?? name, o.slice(eq + 1).replace(/,/g, ' '));
      }
      line = line.slice(end + 1).trim();
    }
    const [uri, suite, ...components] = line.split(/\s+/);
    if (!uri || !suite) continue;
    out.push({ types: [type[1]], uris: [uri], suites: [suite], components, options });
  }
  return out;
}

/** Paragraphs of the deb822 format; `Enabled: no` ones are left out. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const paragraph of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | null = null;
    for (const line of paragraph.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line) && last !== null) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon).trim();
      fields.set(last, line.slice(colon + 1).trim());
    }
    const list = (name: string) => (fields.get(name) ?? '').split(/\s+/).filter(Boolean);
    if (fields.get('Enabled')?.toLowerCase() === 'no') continue;
    const types = list('Types');
    const uris = list('URIs');
    const suites = list('Suites');
    if (!types.length || !uris.length || !suites.length) continue;
    const options = new Map([...fields].filter(([k]) => !['Types', 'URIs', 'Suites', 'Components', 'Enabled'].includes(k)));
    out.push({ types, uris, suites, components: list('Components'), options });
  }
  return out;
}

/** The deb-src twin of every binary source, as one deb822 text ('' when there is none). */
export function sourceTwins(sources: readonly AptSource[]): string {
  const paragraphs = sources
    .filter((s) => s.types.includes('deb'))
    .map((s) => {
      const lines = ['Types: deb-src', `URIs: ${s.uris.join(' ')}`, `Suites: ${s.suites.join(' ')}`];
      if (s.components.length) lines.push(`Components: ${s.components.join(' ')}`);
      for (const [k, v] of s.options) {
        // Architectures would name binary architectures; sources have their own
        if (k !== 'Architectures') lines.push(`${k}: ${v.replace(/\n/g, '\n ')}`);
      }
      return lines.join('\n') + '\n';
    });
  return paragraphs.join('\n');
}

/** Where this machine's apt reads its sources (apt-config, so a changed Dir::Etc counts). */
function sourcePaths(): { list: string; parts: string } {
  const r = spawnSync('apt-config', ['shell', 'LIST', 'Dir::Etc::SourceList/f', 'PARTS', 'Dir::Etc::SourceParts/d'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const value = (name: string, fallback: string) => new RegExp(`^${name}='([^']*)'`, 'm').exec(r.stdout ?? '')?.[1] ?? fallback;
  return { list: value('LIST', '/etc/apt/sources.list'), parts: value('PARTS', '/etc/apt/sources.list.d/') };
}

/** Every source this machine's apt is configured with. */
export function machineAptSources(): AptSource[] {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  const { list, parts } = sourcePaths();
  const out = parseSourcesList(read(list));
  let names: string[] = [];
  try {
    names = readdirSync(parts).sort();
  } catch {
    // no parts directory
  }
  for (const name of names) {
    if (name.endsWith('.list')) out.push(...parseSourcesList(read(join(parts, name))));
    else if (name.endsWith('.sources')) out.push(...parseDeb822Sources(read(join(parts, name))));
  }
  return out;
}

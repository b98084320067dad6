// The test support's reading of apt's sources: both formats, and the deb-src twins apt-get source
// uses (test/support/debian-source.ts), so the Debian suite runs on any Debian machine's mirror.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { machineAptSources, parseDeb822Sources, parseSourcesList, sourceTwins } from './support/apt-sources';

describe('apt sources', () => {
  it('reads the one-line format, options included, comments and deb-src lines kept apart', () => {
    const s = parseSourcesList(
      '# a comment\n' +
        'deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib # trailing\n' +
        'deb-src http://mirror.example/debian bookworm main\n' +
        'deb cdrom:[Debian]/ bookworm\n' +
        'garbage line\n',
    );
    assert.equal(s.length, 3);
    assert.deepEqual(s[0].types, ['deb']);
    assert.deepEqual(s[0].uris, ['http://mirror.example/debian']);
    assert.deepEqual(s[0].suites, ['bookworm']);
    assert.deepEqual(s[0].components, ['main', 'contrib']);
    assert.equal(s[0].options.get('Signed-By'), '/k.gpg');
    assert.equal(s[0].options.get('Architectures'), 'amd64');
    assert.deepEqual(s[1].types, ['deb-src']);
  });

  it('reads deb822 paragraphs, leaving out disabled ones, keeping multi-line fields', () => {
    const s = parseDeb822Sources(
      'Types: deb\n# http://snapshot.example/archive\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n' +
        'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        'Types: deb deb-src\nURIs: http://other.example/x\nSuites: stable\nComponents: main\nEnabled: no\n\n' +
        'Types: deb\nURIs: http://inline.example/y\nSuites: sid\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n',
    );
    assert.equal(s.length, 2);
    assert.deepEqual(s[0].suites, ['bookworm', 'bookworm-updates']);
    assert.equal(s[1].options.get('Signed-By'), '\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n.\nabc');
  });

  it('gives a deb-src twin of each binary source, with its keyring, and none of a source-only one', () => {
    const text = sourceTwins([
      ...parseSourcesList('deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\ndeb-src http://s.example/ x main\n'),
    ]);
    assert.equal(text, 'Types: deb-src\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\nSigned-By: /k.gpg\n');
    // a multi-line field stays a deb822 continuation
    const inline = sourceTwins(parseDeb822Sources('Types: deb\nURIs: http://i.example/\nSuites: sid\nSigned-By:\n A\n .\n B\n'));
    assert.match(inline, /^Signed-By: \n A\n \.\n B\n$/m);
    assert.equal(parseDeb822Sources(inline).length, 1);
    assert.equal(sourceTwins([]), '');
  });

  it("finds this machine's sources through apt-config", { skip: !spawnable('apt-config') && 'apt-config not installed' }, () => {
    const sources = machineAptSources();
    assert.ok(sources.length > 0, 'a Debian machine has at least one apt source');
    assert.ok(sourceTwins(sources).startsWith('Types: deb-src\n'));
  });
});

function spawnable(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

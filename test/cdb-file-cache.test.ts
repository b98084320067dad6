// The rules-file cache tcpserver uses: the file is opened every time; its bytes are read again
// exactly when it changed.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CdbFileCache } from '../src/cdb/file-cache';
import { makeCdb } from '../src/cdb/writer';
import { tempDir } from './support/tmp';

const cdb = (value: string) => makeCdb([[Buffer.from('k'), Buffer.from(value)]]);
const valueOf = (cache: CdbFileCache, path: string): string => {
  const r = cache.open(path);
  try {
    return r.find(Buffer.from('k'))?.toString() ?? '(none)';
  } finally {
    r.close();
  }
};

describe('CdbFileCache', () => {
  const dir = tempDir();

  it('answers an unchanged file from memory', () => {
    const path = join(dir, 'same.cdb');
    writeFileSync(path, cdb('one'));
    const cache = new CdbFileCache();
    const first = cache.open(path);
    const second = cache.open(path);
    assert.equal(first, second);
    assert.equal(valueOf(cache, path), 'one');
  });

  it('sees a file replaced by rename, as tcprules replaces it', () => {
    const path = join(dir, 'renamed.cdb');
    writeFileSync(path, cdb('old'));
    const cache = new CdbFileCache();
    assert.equal(valueOf(cache, path), 'old');
    writeFileSync(`${path}.tmp`, cdb('new')); // same size as the old file
    renameSync(`${path}.tmp`, path);
    assert.equal(valueOf(cache, path), 'new');
  });

  it('sees a file rewritten in place, by its size or by its times', () => {
    const path = join(dir, 'inplace.cdb');
    writeFileSync(path, cdb('first'));
    const cache = new CdbFileCache();
    assert.equal(valueOf(cache, path), 'first');
    writeFileSync(path, cdb('second, longer'));
    assert.equal(valueOf(cache, path), 'second, longer');
    writeFileSync(path, cdb('third, longer!'));
    utimesSync(path, new Date(2001, 1, 1), new Date(2001, 1, 1)); // same size: new times
    assert.equal(valueOf(cache, path), 'third, longer!');
  });

  it("keeps the reader's errors for missing, empty and non-regular files", () => {
    const cache = new CdbFileCache();
    assert.throws(() => cache.open(join(dir, 'missing.cdb')), { code: 'ENOENT' });
    const empty = join(dir, 'empty.cdb');
    writeFileSync(empty, '');
    assert.throws(() => cache.open(empty).find(Buffer.from('k')), { code: 'EINVAL' });
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    assert.throws(() => cache.open(sub).find(Buffer.from('k')), { code: 'EISDIR' });
  });

  it('reads files over its limit probe by probe instead of keeping them', () => {
    const path = join(dir, 'big.cdb');
    writeFileSync(path, cdb('big'));
    const cache = new CdbFileCache(1024);
    const a = cache.open(path);
    const b = cache.open(path);
    assert.notEqual(a, b);
    assert.equal(a.find(Buffer.from('k'))?.toString(), 'big');
    a.close();
    b.close();
  });
});

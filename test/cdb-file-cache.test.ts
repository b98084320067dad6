// The rules-file cache tcpserver uses: the file is opened every time; its bytes are read again
// exactly when it changed.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
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

  it('reads a file again after a chmod (its ctime changed): a file made unreadable fails as it would', () => {
    const path = join(dir, 'chmod.cdb');
    writeFileSync(path, cdb('mode'));
    const cache = new CdbFileCache();
    const first = cache.open(path);
    chmodSync(path, 0o600);
    const second = cache.open(path);
    assert.notEqual(first, second);
    assert.equal(second.find(Buffer.from('k'))?.toString(), 'mode');
  });

  it('knows which kinds of keys a file holds, and sees a replaced file hold others', () => {
    const path = join(dir, 'kinds.cdb');
    const rules = (keys: string[]) => makeCdb(keys.map((k) => [Buffer.from(k), Buffer.from('+X=1\0')] as const));
    writeFileSync(path, rules(['1.2.3.4', '=host']));
    const cache = new CdbFileCache();
    const plain = cache.open(path);
    assert.equal(plain.mayHaveKeyStartingWith('_'.charCodeAt(0)), false);
    assert.equal(plain.mayHaveKeyStartingWith('='.charCodeAt(0)), true);
    writeFileSync(`${path}.tmp`, rules(['1.2.3.4', '_abc']));
    renameSync(`${path}.tmp`, path);
    assert.equal(cache.open(path).mayHaveKeyStartingWith('_'.charCodeAt(0)), true);
  });

  it('keeps a file over its limit open, one descriptor for every use, and lets it go when replaced', () => {
    const path = join(dir, 'kept.cdb');
    const descriptors = () => readdirSync('/proc/self/fd').length;
    writeFileSync(path, cdb('first'));
    const cache = new CdbFileCache(1024);
    const before = descriptors();
    for (let i = 0; i < 10; i++) {
      const r = cache.open(path);
      assert.equal(r.find(Buffer.from('k'))?.toString(), 'first');
      assert.equal(r.mayHaveKeyStartingWith('k'.charCodeAt(0)), true);
      assert.equal(r.mayHaveKeyStartingWith('_'.charCodeAt(0)), false);
      r.close();
    }
    assert.equal(descriptors(), before + 1);
    writeFileSync(`${path}.tmp`, cdb('again'));
    renameSync(`${path}.tmp`, path);
    assert.equal(valueOf(cache, path), 'again');
    assert.equal(descriptors(), before + 1);
  });
});

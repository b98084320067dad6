// tcpserver's log lines: 0.88's safecats (its fast path for fields with nothing to replace must give
// what the byte-by-byte rule gives), and lines held to the end of the event loop's turn, written in
// the order they were made, before anything else this process writes to fd 2, and at exit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { safeField } from '../src/server/log';

/** 0.88's safecats, byte by byte (':' kept by the IPv6 variant), cut after 100 bytes with "...". */
function safecats(s: string, keepColons: boolean): string {
  let out = '';
  for (const ch of s.slice(0, 100)) {
    const c = ch.charCodeAt(0);
    out += c < 33 || c > 126 || ch === '%' || (ch === ':' && !keepColons) ? '?' : ch;
  }
  return s.length >= 100 ? out + '...' : out;
}

describe('safeField', () => {
  it("is 0.88's safecats for any latin1 text, with and without ':'", () => {
    const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 120 });
    const likely = fc.string({ unit: fc.constantFrom('a', '1', '.', ':', '%', ' ', '~', '!', '\x7f'), maxLength: 110 });
    fc.assert(
      fc.property(fc.oneof(latin1, likely), fc.boolean(), (s, keep) => {
        assert.equal(safeField(s, keep), safecats(s, keep));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('lines held to the end of the turn', () => {
  const messages = join(__dirname, '..', 'src', 'messages.js');
  const run = (body: string) =>
    spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(messages)});\n${body}`], { encoding: 'latin1' });

  it('come out in order, after the lines of the turn before, and before a direct write', () => {
    const r = run(`
      const d = new m.Diagnostics('p', '');
      d.line('before');
      d.deferLines();
      d.line('one');
      d.warn('two');
      m.writeAll(2, 'direct\\n');
      d.line('three');
      setImmediate(() => { m.writeAll(2, 'next turn\\n'); d.line('four'); });
    `);
    assert.equal(r.stderr, 'before\none\np: warning: two\ndirect\nthree\nnext turn\nfour\n');
  });

  it('are written when the process exits in the same turn', () => {
    const r = run(`
      const d = new m.Diagnostics('p', '');
      d.deferLines();
      d.line('held');
      d.fatal('gone', 111);
    `);
    assert.equal(r.status, 111);
    assert.equal(r.stderr, 'held\np: fatal: gone\n');
  });
});

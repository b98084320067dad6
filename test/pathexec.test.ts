// pathexec's environment edits: 0.88's order (an edit removes the first entry of its name by moving
// the last entry into its place, then appends), and the server's way of applying them to an
// environment whose names it knows (KnownEnviron), which must give the same entries in the same order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EnvChanges, KnownEnviron } from '../src/pathexec';

describe('EnvChanges', () => {
  it("removes a name's first entry by moving the last into its place, then appends", () => {
    const env = new EnvChanges().set('B', 'new').unset('D').set('X', '1');
    assert.deepEqual(env.apply(['A=1', 'B=2', 'C=3', 'D=4', 'E=5']), ['A=1', 'E=5', 'C=3', 'B=new', 'X=1']);
  });

  it('gives the same environment through KnownEnviron, edit for edit', () => {
    const name = fc.constantFrom('A', 'B', 'PATH', 'TCPREMOTEIP', 'A=B', '', 'AB');
    const entry = fc.oneof(
      fc.tuple(name, fc.constantFrom('', '1', 'x=y', 'B=2')).map(([n, v]) => `${n}=${v}`),
      fc.constantFrom('A', 'NOEQUALS', '=lead'),
    );
    const edit = fc.tuple(name, fc.option(fc.constantFrom('', 'v', 'B=w'), { nil: null }));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), fc.array(edit, { maxLength: 12 }), (environ, edits) => {
        const env = new EnvChanges();
        for (const [n, v] of edits) env.put(n, v);
        assert.deepEqual(env.apply(new KnownEnviron(environ)), env.apply(environ));
      }),
      { numRuns: 2000 },
    );
  });
});

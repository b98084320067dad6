// RFC 1413 client (§1.6) against a test ident server on this file's own 127.x:113, and against
// what C tcpclient puts in TCPREMOTEINFO for the same replies.
import { strict as assert } from 'node:assert';
import { createServer, Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { IdentReplyParser, remoteInfo } from '../src/ident';
import { IdentAction, IdentTestServer } from './support/ident-server';
import { randomLoopbackIp } from './support/loopback';
import { cBinary, needC, run } from './support/programs';

function parse(reply: string): string | null {
  return new IdentReplyParser().feed(Buffer.from(reply, 'latin1'));
}

// Replies and the TCPREMOTEINFO 0.88 makes of them (null = unset).
const EXAMPLES: Array<[string, IdentAction, string | null]> = [
  ['USERID with spaces', '6193, 23 : USERID : UNIX : st john s\r\n', 'stjohns'],
  ['colons after the third kept', 'a:b:c:d:e\n', 'd:e'],
  ['ERROR reply: set but empty', '6195, 23 : ERROR : NO-USER\r\n', ''],
  ['tabs and CRs dropped', '1,2:USERID:UNIX:\tjo\re\t\r\n', 'joe'],
  ['no line end then close: unset', 'noline', null],
  ['high bytes kept', '1,2:USERID:UNIX:\xe9t\xe9\r\n', '\xe9t\xe9'],
  ['257 bytes is enough even without LF', { send: `1,2:USERID:OTHER:${'x'.repeat(300)}`, keepOpen: true }, 'x'.repeat(257)],
  ['closed without a reply: unset', 'close', null],
];

describe('reply parsing', () => {
  test('examples from 0.88', () => {
    assert.equal(parse('6193, 23 : USERID : UNIX : st john s\r\n'), 'stjohns');
    assert.equal(parse('a:b:c:d:e\n'), 'd:e');
    assert.equal(parse('6195, 23 : ERROR : NO-USER\r\n'), '');
    assert.equal(parse('noline'), null);
    assert.equal(parse(`:::${'y'.repeat(256)}`), null);
    assert.equal(parse(`:::${'y'.repeat(257)}z`), 'y'.repeat(257));
  });

  test('input split anywhere gives the same answer', () => {
    const reply = Buffer.from('6193, 23 : USERID : UNIX : st john s\r\nextra');
    for (let cut = 0; cut <= reply.length; cut++) {
      const p = new IdentReplyParser();
      const first = p.feed(reply.subarray(0, cut));
      assert.equal(first ?? p.feed(reply.subarray(cut)), 'stjohns');
    }
  });
});

describe('remoteInfo against a test ident server', () => {
  let ident: IdentTestServer;
  let action: IdentAction = 'close';
  const localIp = randomLoopbackIp();
  before(async () => {
    ident = await IdentTestServer.start(() => action);
  });
  after(() => ident.close());

  const ask = (timeoutMs = 2000): Promise<string | null> =>
    remoteInfo({ localIp, remoteIp: ident.address, localPort: 25, remotePort: 40119, timeoutMs });

  test('request line and source address as seen by the server', async () => {
    let seen: { line: string; fromIp: string } | undefined;
    ident.handler = (r) => {
      seen = r;
      return 'x:y:z:ok\r\n';
    };
    try {
      assert.equal(await ask(), 'ok');
      assert.deepEqual(seen, { line: '40119 , 25\r\n', fromIp: localIp });
    } finally {
      ident.handler = () => action;
    }
  });

  for (const [name, reply, want] of EXAMPLES) {
    test(name, async () => {
      action = reply;
      assert.equal(await ask(), want);
    });
  }

  test('a server that never answers: unset after the deadline', async () => {
    action = 'hang';
    assert.equal(await ask(300), null);
  });

  test('a partial line then silence: unset after the deadline', async () => {
    action = { send: '1,2:USERID:UNIX:jo', keepOpen: true };
    assert.equal(await ask(300), null);
  });

  test('nobody on port 113: unset', async () => {
    assert.equal(await remoteInfo({ localIp, remoteIp: randomLoopbackIp(), localPort: 1, remotePort: 2, timeoutMs: 2000 }), null);
  });

  test('local IP that cannot be bound: unset', async () => {
    assert.equal(await remoteInfo({ localIp: '192.0.2.1', remoteIp: ident.address, localPort: 1, remotePort: 2, timeoutMs: 2000 }), null);
  });
});

describe('differential: TCPREMOTEINFO from C tcpclient for the same replies', { skip: needC('tcpclient') }, () => {
  let ident: IdentTestServer;
  let service: Server;
  let port = 0;
  let action: IdentAction = 'close';
  before(async () => {
    ident = await IdentTestServer.start(() => action);
    service = createServer((s) => s.end());
    await new Promise<void>((r) => service.listen(0, ident.address, () => r()));
    port = (service.address() as { port: number }).port;
  });
  after(async () => {
    service.close();
    await ident.close();
  });

  for (const [name, reply, want] of EXAMPLES.filter(([, r]) => typeof r === 'string')) {
    test(name, async () => {
      action = reply;
      const c = await run(
        cBinary('tcpclient')!,
        ['-HRr', '-t2', '-l', 'x', ident.address, String(port), 'sh', '-c', 'printf %s "${TCPREMOTEINFO-unset}"'],
        { env: { PATH: process.env.PATH, DNSCACHEIP: randomLoopbackIp() } },
      );
      const cInfo = c.stdout.toString('latin1');
      assert.equal(cInfo, want === null ? 'unset' : want);
      const ours = await remoteInfo({ localIp: ident.address, remoteIp: ident.address, localPort: 1, remotePort: 2, timeoutMs: 2000 });
      assert.equal(ours === null ? 'unset' : ours, cInfo);
    });
  }
});

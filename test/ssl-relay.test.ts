// The hang that started it all, as tests: sslserver's relay between a TLS client and its program must
// forward every byte as soon as it is decrypted, both ways, over TLS 1.2 and 1.3. The tcpserver TLS
// patch read at most 2048 bytes per wake-up and never drained what OpenSSL had decrypted, so long
// mails stalled mid-DATA; each test here would hang (or lose bytes) with such a relay.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { cBinary, ours, run } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, TestPki } from './support/tls';

const SSLSERVER = ours('sslserver');
const DIR = tempDir();
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;
const SKIP = NEED_OPENSSL || (cBinary('python3') ? false : 'python3 not installed');

/** A hang detector, not a speed check: an answer that waits for more input never comes at all. */
const ANSWER_MS = 5_000;
const MESSAGE_BYTES = 20 * 1024 * 1024;
const RECORD = 16 * 1024;

// An SMTP-like program: 220; DATA takes a message to "." and answers its length and SHA-256; RETR n
// sends n bytes of message back in lines, then "."; QUIT.
const SMTPISH = join(DIR, 'smtpish.py');
writeFileSync(
  SMTPISH,
  `import sys, hashlib
inp, out = sys.stdin.buffer, sys.stdout.buffer
def line(n): return b"%08d " % n + b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_+!" + b"\\r\\n"
out.write(b"220 smtpish ready\\r\\n"); out.flush()
for cmd in inp:
    if cmd.startswith(b"DATA"):
        out.write(b"354 go ahead\\r\\n"); out.flush()
        h, n = hashlib.sha256(), 0
        for l in inp:
            if l == b".\\r\\n": break
            h.update(l); n += len(l)
        out.write(b"250 %d %s\\r\\n" % (n, h.hexdigest().encode())); out.flush()
    elif cmd.startswith(b"RETR"):
        want, sent, i = int(cmd.split()[1]), 0, 0
        while sent < want:
            l = line(i); out.write(l); sent += len(l); i += 1
        out.write(b".\\r\\n"); out.flush()
    elif cmd.startswith(b"QUIT"):
        out.write(b"221 bye\\r\\n"); out.flush(); break
    else:
        out.write(b"250 " + cmd); out.flush()
`,
);

/** The message RETR sends, as the program makes it (lines until at least `bytes`, then "."). */
function retrMessage(bytes: number): Buffer {
  const parts: Buffer[] = [];
  let sent = 0;
  for (let i = 0; sent < bytes; i++) {
    const l = Buffer.from(`${String(i).padStart(8, '0')} abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_+!\r\n`);
    parts.push(l);
    sent += l.length;
  }
  return Buffer.concat(parts);
}

/** A TLS client reading lines and raw bytes as they come. */
class Client {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  ended = false;
  constructor(readonly sock: TLSSocket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    sock.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
  }
  /** Resolves when `pred` holds for the received bytes; rejects after `ms`. */
  private until(pred: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what}: nothing after ${ms} ms; have ${JSON.stringify(this.buf.subarray(0, 200).toString('latin1'))}`)),
        ms,
      );
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          this.waiter = null;
          resolve();
        } else if (this.ended) {
          clearTimeout(timer);
          reject(new Error(`${what}: the server closed; have ${JSON.stringify(this.buf.toString('latin1'))}`));
        } else this.waiter = check;
      };
      check();
    });
  }
  async line(ms = ANSWER_MS): Promise<string> {
    await this.until(() => this.buf.includes('\n'), ms, 'a line');
    const nl = this.buf.indexOf('\n');
    const l = this.buf.subarray(0, nl + 1).toString('latin1');
    this.buf = this.buf.subarray(nl + 1);
    return l;
  }
  async through(terminator: string, ms: number): Promise<Buffer> {
    await this.until(() => this.buf.includes(terminator), ms, terminator);
    const at = this.buf.indexOf(terminator);
    const got = this.buf.subarray(0, at);
    this.buf = this.buf.subarray(at + terminator.length);
    return got;
  }
}

function client(port: number, version: 'TLSv1.2' | 'TLSv1.3'): Promise<Client> {
  const sock = tlsConnect({
    port,
    host: '127.0.0.1',
    ca: readFileSync(pki.ca),
    servername: 'localhost',
    minVersion: version,
    maxVersion: version,
  });
  return once(sock, 'secureConnect').then(() => new Client(sock));
}

/** Write `data` in records of `size` bytes, waiting for each to be taken (backpressure honoured). */
async function writeRecords(sock: TLSSocket, data: Buffer, size = RECORD): Promise<void> {
  for (let off = 0; off < data.length; off += size) {
    if (!sock.write(data.subarray(off, off + size))) await once(sock, 'drain');
  }
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) : 0;
}

describe('sslserver relay: nothing stalls, nothing is lost', { skip: SKIP }, () => {
  let s: RunningServer;
  before(async () => {
    pki = (await pkiReady) as TestPki;
    s = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'python3', SMTPISH], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    describe(version, () => {
      it('carries a 20 MB message to the program in 16 KB records and a 20 MB one back, byte for byte', async () => {
        const c = await client(s.port, version);
        assert.equal(await c.line(), '220 smtpish ready\r\n');
        c.sock.write('DATA\r\n');
        assert.equal(await c.line(), '354 go ahead\r\n');
        const message = retrMessage(MESSAGE_BYTES);
        await writeRecords(c.sock, Buffer.concat([message, Buffer.from('.\r\n')]));
        const digest = createHash('sha256').update(message).digest('hex');
        assert.equal(await c.line(60_000), `250 ${message.length} ${digest}\r\n`);
        c.sock.write(`RETR ${MESSAGE_BYTES}\r\n`);
        const back = await c.through('\r\n.\r\n', 60_000);
        assert.equal(back.length + 2, message.length);
        assert.ok(Buffer.concat([back, Buffer.from('\r\n')]).equals(message), 'the message came back byte for byte');
        c.sock.write('QUIT\r\n');
        assert.equal(await c.line(), '221 bye\r\n');
        c.sock.end();
      });

      it('answers every short line of a dialogue before the next is sent', async () => {
        const c = await client(s.port, version);
        await c.line();
        for (let i = 0; i < 50; i++) {
          c.sock.write(`NOOP ${i}\r\n`);
          assert.equal(await c.line(), `250 NOOP ${i}\r\n`);
        }
        c.sock.end('QUIT\r\n');
      });

      it('answers a line that came in one large record, with nothing more sent', async () => {
        const c = await client(s.port, version);
        await c.line();
        // one record of 16 KB: most of it sits decrypted in OpenSSL after the first 2048 bytes
        const long = `NOOP ${'x'.repeat(RECORD - 7)}\r\n`;
        assert.equal(long.length, RECORD);
        c.sock.write(long);
        assert.equal(await c.line(), `250 ${long}`);
        c.sock.end('QUIT\r\n');
      });
    });
  }

  it("takes a client's end of file without close_notify as the end of input, and its answer still reaches the client", async () => {
    const t = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'n=$(wc -c); echo "read $n"'], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
    // python's ssl: send, then shut the TCP connection for writing under the TLS layer (no close_notify)
    const script = [
      'import os, socket, ssl, sys',
      `ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.ca)})`,
      `s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ${t.port})), server_hostname="localhost")`,
      's.sendall(b"twelve bytes")',
      'socket.socket(fileno=os.dup(s.fileno())).shutdown(socket.SHUT_WR)',
      'data = b""',
      'while True:',
      '    try: d = s.recv(4096)',
      '    except ssl.SSLError as e: sys.stdout.write("[%s]" % e.reason); break',
      '    if not d: break',
      '    data += d',
      'sys.stdout.write(data.decode())',
    ].join('\n');
    const r = await run('python3', ['-c', script], { timeout: 20_000 });
    assert.equal(r.stdout.toString(), 'read 12\n');
  });

  it('answers a client that sends close_notify right after its handshake, before the program has started', {
    timeout: 20_000,
  }, async () => {
    const t = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'n=$(wc -c); echo "read $n"'], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const c = await client(t.port, version);
      c.sock.end();
      assert.equal(await c.line(), 'read 0\n', version);
    }
  });

  it('lets go at once of a client that vanishes right after its handshake, without waiting for -T', { timeout: 20_000 }, async () => {
    const t = await startServer(SSLSERVER, ['-1', '-v', '-T', '60', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'true'], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
    for (let i = 0; i < 5; i++) {
      const sock = tlsConnect({ port: t.port, host: '127.0.0.1', rejectUnauthorized: false });
      sock.on('error', () => {});
      await once(sock, 'secureConnect');
      sock.destroy();
    }
    // each connection ends (served, or dropped for its unfinished handshake) long before -T
    await t.waitForLines(/ end \d+ status /, 5, 15_000);
  });

  it('lets go of every connection of a client that hangs up right after its Finished (openssl s_time)', { timeout: 60_000 }, async () => {
    // the session tickets sent after the handshake meet a closed socket: Node's TLS layer would keep
    // the connection (and its -c slot) for ever
    const t = await startServer(SSLSERVER, ['-1', '-v', '-c', '5', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'echo', 'ok'], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
    const r = await run('openssl', ['s_time', '-connect', `127.0.0.1:${t.port}`, '-new', '-time', '2'], { timeout: 30_000 });
    const made = Number(/(\d+) connections in [\d.]+ real seconds/.exec(r.stdout.toString())?.[1] ?? 0);
    assert.ok(made >= 20, `s_time made ${made} connections: ${r.stdout}`);
    await t.waitForLines(/ end \d+ status /, made, 20_000);
    assert.equal(t.lines().filter((l) => / ok \d+ /.test(l)).length, made);
  });

  it('holds a bounded amount for a client that stops reading while the program writes without end', async () => {
    const t = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'yes', 'a line the client will not read'], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
    const c = await client(t.port, 'TLSv1.3');
    await c.line();
    c.sock.pause();
    const pid = t.proc.pid as number;
    await new Promise((r) => setTimeout(r, 500));
    const before = rssKb(pid);
    // `yes` writes gigabytes a second: without backpressure the server would grow by that much
    await new Promise((r) => setTimeout(r, 2_000));
    const grown = rssKb(pid) - before;
    assert.ok(grown < 16 * 1024, `sslserver grew by ${grown} kB while its client was not reading`);
    c.sock.destroy();
  });
});

// The server's relay between a client socket and a program on pipes, with real TCP connections on
// loopback and real programs: every byte both ways, half-close both ways, backpressure, layers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PassThrough, Writable } from 'node:stream';
import { CopyDirection, runCopier } from '../src/copier/copier';
import { libc } from '../src/ffi';
import { Launcher, makeLauncher, PipedProgram } from '../src/server/children';
import { composeLayers, relay, RelayLayer } from '../src/server/relay';

const PASS: CopyDirection = { forward: (chunk) => chunk, eof: () => {} };

interface Relayed {
  client: Socket;
  /** the server's side of the connection, which the relay writes to */
  accepted: Socket;
  program: PipedProgram;
  /** resolves when the relay has closed everything */
  relayed: Promise<void>;
  /** resolves with the program's wait status */
  exited: Promise<number>;
  /** with `ended`: what the client received until the server's end of file */
  received: Promise<Buffer>;
}

/** A listening socket whose one connection is relayed to `argv` through `layers`. */
async function relayedConnection(
  launcher: Launcher,
  argv: string[],
  opts: { layers?: RelayLayer[]; idleMs?: number; programEnd?: 'close' | 'half-close'; ended?: boolean; destroyed?: boolean } = {},
): Promise<Relayed> {
  const server: Server = createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  // half-open, so that a test can answer after the server's end of file
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [socket] = await accepted;
  const exits = new Map<number, number>();
  const waiting = new Map<number, (status: number) => void>();
  launcher.onExit = (pid, status) => {
    const w = waiting.get(pid);
    if (w) w(status);
    else exits.set(pid, status);
  };
  const program = await launcher.launchOnPipes({ program: argv[0], argv, env: ['PATH=/usr/bin:/bin'] });
  const exited = new Promise<number>((resolve) => {
    const known = exits.get(program.pid);
    if (known !== undefined) resolve(known);
    else waiting.set(program.pid, resolve);
  });
  let received: Promise<Buffer> | undefined;
  if (opts.ended) {
    // the client's end of file, read and emitted before the relay (a stream with bytes still
    // buffered emits no 'end' until they are read, so there are none)
    received = readAll(client);
    client.end();
    socket.allowHalfOpen = true;
    socket.resume();
    await once(socket, 'end');
    socket.pause();
  }
  if (opts.destroyed) {
    socket.destroy();
    await once(socket, 'close');
  }
  const relayed = relay(socket, program, { layers: opts.layers ?? [], idleMs: opts.idleMs ?? 0, programEnd: opts.programEnd });
  return { client, accepted: socket, program, relayed, exited, received: received ?? Promise.resolve(Buffer.alloc(0)) };
}

/** Everything the client receives until the server's end of file. */
function readAll(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

const launchers: Array<[string, () => Launcher, string | false]> = [
  ['posix_spawn', () => makeLauncher([]), !libc() && 'FFI (koffi) not available'],
  ['child_process', () => makeLauncher([], 'child_process'), false],
];

for (const [kind, make, skip] of launchers) {
  describe(`relay (${kind} launcher)`, { skip }, () => {
    it('carries 20 MB each way through cat, byte for byte, and ends after the client half-closes', async () => {
      const r = await relayedConnection(make(), ['cat']);
      const data = randomBytes(20 * 1024 * 1024);
      const received = readAll(r.client);
      r.client.end(data);
      const got = await received;
      assert.equal(got.length, data.length);
      assert.ok(got.equals(data));
      assert.equal(await r.exited, 0);
      await r.relayed;
    });

    it("gives the program end of file on the client's half-close, and its answer still reaches the client", async () => {
      const r = await relayedConnection(make(), ['sh', '-c', 'n=$(wc -c); echo "read $n"']);
      const received = readAll(r.client);
      r.client.end('hello\n');
      assert.equal((await received).toString(), 'read 6\n');
      assert.equal(await r.exited, 0);
      await r.relayed;
    });

    it('ends the connection when the program ends its output, with the client still open', async () => {
      const r = await relayedConnection(make(), ['sh', '-c', 'echo bye; exec >&-; sleep 0.2; exit 3']);
      const received = readAll(r.client);
      assert.equal((await received).toString(), 'bye\n');
      assert.equal(await r.exited, 3 << 8);
      r.client.end();
      await r.relayed;
    });

    it('answers each line of a dialogue as soon as it is written (nothing waits for a buffer to fill)', async () => {
      const r = await relayedConnection(make(), ['sh', '-c', 'while read l; do echo "got $l"; done']);
      let pending = '';
      r.client.setEncoding('latin1');
      for (let i = 0; i < 50; i++) {
        r.client.write(`line ${i}\n`);
        while (!pending.includes('\n')) pending += (await once(r.client, 'data'))[0];
        assert.equal(pending, `got line ${i}\n`);
        pending = '';
      }
      r.client.end();
      await r.relayed;
    });

    it("keeps the program's output flowing after it stops reading its input", async () => {
      // the program closes its input at once and answers later: the client's bytes are dropped
      const r = await relayedConnection(make(), ['sh', '-c', 'exec <&-; sleep 0.3; echo done']);
      const received = readAll(r.client);
      r.client.write(randomBytes(256 * 1024));
      assert.equal((await received).toString(), 'done\n');
      r.client.end();
      await r.relayed;
    });

    it('holds a bounded amount for a client that stops reading', async () => {
      const r = await relayedConnection(make(), ['sh', '-c', 'exec yes']);
      r.client.pause();
      // the program can write only as fast as the client reads: sample what the relay holds
      let largest = 0;
      for (let i = 0; i < 20; i++) {
        await new Promise((res) => setTimeout(res, 25));
        const held = r.accepted.writableLength + (r.program.fromProgram as Socket).readableLength;
        largest = Math.max(largest, held);
      }
      assert.ok(largest <= 1024 * 1024, `relay held ${largest} bytes of program output`);
      r.client.destroy();
      await r.relayed;
      assert.ok((await r.exited) !== 0, 'yes ends by SIGPIPE or a write error once the relay closes');
    });

    it("with programEnd 'half-close', ends only our side at the program's end of output and still delivers the other side's bytes", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'relay-'));
      after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'got');
      const r = await relayedConnection(make(), ['sh', '-c', `echo question; exec >&-; cat > ${file}`], { programEnd: 'half-close' });
      // the program's question, then our end of file while the connection stays open for the answer
      assert.equal((await readAll(r.client)).toString(), 'question\n');
      r.client.end('the answer\n');
      await r.relayed;
      assert.equal(await r.exited, 0);
      assert.equal(readFileSync(file, 'latin1'), 'the answer\n');
    });

    it("by default, ends the whole connection at the program's end of output: the program's input ends too", async () => {
      const r = await relayedConnection(make(), ['sh', '-c', 'echo question; exec >&-; n=$(wc -c); echo "read $n" >&2; test "$n" -eq 0']);
      assert.equal((await readAll(r.client)).toString(), 'question\n');
      r.client.end('too late\n');
      await r.relayed;
      assert.equal(await r.exited, 0, 'the program saw end of file without the late bytes');
    });

    it("gives the program end of file when the client's input had ended before the relay started", { timeout: 10_000 }, async () => {
      // as when a TLS client's close_notify arrives while the program starts: 'end' came and went
      const r = await relayedConnection(make(), ['sh', '-c', 'n=$(wc -c); echo "read $n"'], { ended: true });
      assert.equal((await r.received).toString(), 'read 0\n');
      await r.relayed;
      assert.equal(await r.exited, 0);
    });

    it('closes at once when the client was gone before the relay started', { timeout: 10_000 }, async () => {
      const r = await relayedConnection(make(), ['cat'], { destroyed: true });
      await r.relayed;
      assert.equal(await r.exited, 0, 'cat saw end of file');
    });

    it("delivers the program's last bytes to a client that was slow to read them", async () => {
      // the last writes to the client are still queued (below the high-water mark, so no 'drain'
      // will come) when the program's output ends
      const r = await relayedConnection(make(), ['sh', '-c', 'head -c 30000000 /dev/zero; sleep 0.2; echo tail']);
      r.client.pause();
      await new Promise((res) => setTimeout(res, 500));
      const received = readAll(r.client);
      r.client.resume();
      assert.equal((await received).length, 30000005);
      assert.equal(await r.exited, 0);
      r.client.end();
      await r.relayed;
    });

    it('gives the program end of file after input it was slow to read', async () => {
      // the client's bytes are still queued for the program when the client's end of file comes
      const r = await relayedConnection(make(), ['sh', '-c', 'sleep 0.5; wc -c']);
      const received = readAll(r.client);
      r.client.write(randomBytes(30000000));
      await new Promise((res) => setTimeout(res, 200));
      r.client.end('tail\n');
      assert.equal((await received).toString().trim(), '30000005');
      await r.relayed;
    });

    it('closes without a reset while the client is still sending: its answer is never lost', async () => {
      // the program answers and ends without reading, while the client sends and has not read the
      // answer yet. A close with the client's bytes unread makes the kernel reset the connection,
      // and the client's kernel then drops the answer it has not read
      const r = await relayedConnection(make(), ['sh', '-c', 'echo answer']);
      r.client.pause();
      for (let i = 0; i < 16; i++) {
        r.client.write(randomBytes(64 * 1024));
        await new Promise((res) => setTimeout(res, 10));
      }
      await new Promise((res) => setTimeout(res, 300));
      let error: string | null = null;
      r.client.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      const received = readAll(r.client).catch(() => Buffer.from(''));
      r.client.once('end', () => r.client.end());
      r.client.resume();
      assert.equal((await received).toString(), 'answer\n');
      assert.equal(error, null);
      await r.relayed;
    });

    it('closes a connection idle for longer than the idle time', async () => {
      const r = await relayedConnection(make(), ['cat'], { idleMs: 200 });
      const received = readAll(r.client).catch(() => Buffer.alloc(0));
      r.client.write('x');
      await r.relayed;
      await received;
      assert.equal(await r.exited, 0);
    });
  });
}

describe('copier', () => {
  it("ends once the client's output has really gone out, though its last write never filled it ('drain' never comes)", {
    timeout: 10_000,
  }, async () => {
    // a client output whose writes complete a while later, as a TLS socket's do
    const written: string[] = [];
    const clientOut = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _enc, cb) {
        setTimeout(() => {
          written.push(chunk.toString());
          cb();
        }, 50);
      },
    });
    const programOut = new PassThrough();
    const done = new Promise<void>((resolve) =>
      runCopier({ clientIn: new PassThrough(), programIn: new PassThrough(), programOut, clientOut }, PASS, PASS, resolve, 'discard'),
    );
    programOut.end('the last words');
    await done;
    assert.deepEqual(written, ['the last words'], 'done only after they were written');
  });
});

describe('relay layers', () => {
  const tag = (name: string, log: string[]): RelayLayer => ({
    directions: (pid) => {
      const dir = (way: string): CopyDirection => ({
        forward(chunk) {
          log.push(`${name}${way}${pid}:${chunk}`);
          return Buffer.concat([chunk, Buffer.from(name)]);
        },
        eof() {
          log.push(`${name}${way}eof`);
        },
      });
      return [dir('<'), dir('>')];
    },
  });

  it('runs input from the client side inward and output from the program side outward', () => {
    const log: string[] = [];
    const [input, output] = composeLayers([tag('a', log), tag('b', log)], 7);
    assert.equal(input.forward(Buffer.from('x')).toString(), 'xab');
    assert.equal(output.forward(Buffer.from('y')).toString(), 'yba');
    input.eof();
    output.eof();
    assert.deepEqual(log, ['a<7:x', 'b<7:xa', 'b>7:y', 'a>7:yb', 'a<eof', 'b<eof', 'b>eof', 'a>eof']);
  });

  it('passes bytes through untouched with no layers', () => {
    const [input, output] = composeLayers([], 1);
    const b = Buffer.from('same');
    assert.equal(input.forward(b), b);
    assert.equal(output.forward(b), b);
  });
});

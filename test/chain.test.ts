// tcpserver's in-process chain end to end: the same scenario run (a) with the chain switched off
// (our helpers run as programs), (b) in-process, and (c) by the C tcpserver with the C helpers,
// comparing the client's bytes, the program's environment, the stderr lines (pids normalised) and
// the end status. Lookups go to this file's DNS responder on 127.x (DNSCACHEIP).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseIp6, reverseNibbles6 } from '../src/dns/address';
import { DnsTestServer, Zone } from './support/dns-server';
import { chainEnv, Mode, MODES, skipCChain, tcpserverFor, writeFakeSmtpd } from './support/chain';
import { writeRulesCdb } from './support/rules';
import { exchange, parseEnvOutput, RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const BLACKHOLED = 'Blackholed - see <URL:http://mail-abuse.org/cgi-bin/lookup?127.0.0.2>';
const LONG_LABEL = 'thislabelistoolongbecausednshasalimitof63charactersinasinglelabel';

const ZONE: Zone = {
  '2.0.0.127.rbl.test': { TXT: [BLACKHOLED] },
  '4.0.0.127.rbl.test': { TXT: [['part one, ', 'part two'], ' and a second record'] },
  '2.0.0.127.white.test': { A: ['127.0.0.2'] },
  '2.0.0.127.silent.test': 'timeout',
  [`${reverseNibbles6(parseIp6('::1')!)}rbl.test`]: { TXT: ['listed over IPv6'] },
};

if (skipCChain) console.log(`chain: comparisons with the C chain skipped: ${skipCChain}`);

const dir = tempDir('chain-');
const SMTPD = join(dir, 'fake-smtpd');
let dns: DnsTestServer;

before(async () => {
  dns = await DnsTestServer.start(ZONE);
  writeFakeSmtpd(SMTPD);
  writeRulesCdb(
    join(dir, 'rules.cdb'),
    '127.0.0.3:allow,RBLSMTPD="-go away"\n127.0.0.2:allow,RBLSMTPD=""\n127.0.0.1:allow,FROM_RULE="yes"\n',
  );
});
after(() => dns?.close());

interface Scenario {
  /** the program argv after tcpserver's operands */
  chain: string[];
  flags?: string[];
  /** the client's source address */
  from?: string;
  send?: string;
  /** do not half-close after sending: the server ends the connection */
  keepOpen?: boolean;
  env?: Record<string, string>;
  /** listen on ::1 (IPv6) */
  six?: boolean;
  /** the client's bytes are `env` output: compare them as variables */
  envOutput?: boolean;
  /** stderr lines to wait for after the `end` line (the C copier may log after it) */
  waitFor?: RegExp[];
}

interface Seen {
  data: string;
  /** tcpserver's lines but the status lines, pids and ports normalised */
  server: string[];
  /** other programs' lines (rblsmtpd's, recordio's fatal ...) with ` pid N:` normalised */
  helpers: string[];
  /** what recordio logged in each direction (see recordedStream) */
  into: string[];
  out: string[];
  /** from the `end` line (the pids in the helpers' lines are checked against the connection's) */
  status: string;
}

const IGNORED_VARIABLES = new Set(['PATH', 'TCPLOCALPORT', 'TCPREMOTEPORT', 'UCSPI_TS_CHAIN', 'TCP6LOCALPORT', 'TCP6REMOTEPORT']);

function normaliseEnvOutput(text: string): string {
  const vars = parseEnvOutput(text.replace(/\r\n/g, '\n'));
  return [...vars]
    .filter(([k]) => !IGNORED_VARIABLES.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join('\n');
}

/**
 * recordio's lines of one direction (pid cut off) as the bytes they record, then `[EOF]` if logged.
 * Where a line is split (`+`) follows the copier's reads, which depend on timing in 0.88 as here (a
 * program that writes twice quickly is often read once); the bytes and the end of file do not.
 */
function recordedStream(lines: readonly string[]): string[] {
  let bytes = '';
  const rest: string[] = [];
  for (const line of lines) {
    if (line === '[EOF]') rest.push(line);
    else bytes += line.endsWith('+') ? line.slice(0, -1) : line.slice(0, -1) + '\n';
  }
  return [bytes, ...rest];
}

/** Run one connection through a fresh server of `mode` and read what everyone saw. */
async function runScenario(mode: Mode, s: Scenario): Promise<Seen> {
  const host = s.six ? '::1' : '127.0.0.1';
  const flags = (s.flags ?? []).map((f) => (f.endsWith('.cdb') ? join(dir, f) : f));
  const server = await startServer(tcpserverFor(mode), ['-v', '-1', '-R', '-H', '-l', 'L', ...flags, host, '0', ...s.chain], {
    env: chainEnv(mode, dns.address, s.env),
  });
  const r = await exchange(server.port, { host, localAddress: s.from, send: s.send, keepOpen: s.keepOpen, timeoutMs: 20_000 });
  await server.waitForLine(/^tcpserver: end /, 20_000);
  for (const re of s.waitFor ?? []) await server.waitForLine(re, 20_000);
  await server.stop();
  return seenIn(server, r.data.toString('latin1'), s.envOutput ?? false);
}

function seenIn(server: RunningServer, data: string, envOutput: boolean): Seen {
  const port = String(server.port);
  const seen: Seen = { data: envOutput ? normaliseEnvOutput(data) : data, server: [], helpers: [], into: [], out: [], status: '' };
  let pid = '';
  const pids = new Set<string>();
  const into: string[] = [];
  const out: string[] = [];
  for (const line of server.lines()) {
    let m: RegExpExecArray | null;
    if (line.startsWith('tcpserver: status: ')) continue;
    if ((m = /^tcpserver: pid (\d+) from/.exec(line))) pid = m[1];
    if ((m = /^tcpserver: end \d+ status (\d+)$/.exec(line))) seen.status = m[1];
    if (line.startsWith('tcpserver: ')) {
      seen.server.push(
        line
          .split(port)
          .join('PORT')
          .replace(/(pid|ok|deny|end) \d+/, '$1 PID')
          .replace(/:\d+$/, ':RPORT'),
      );
    } else if ((m = /^(\d+) ([<>]) /.exec(line))) {
      pids.add(m[1]);
      (m[2] === '<' ? into : out).push(line.slice(m[0].length));
    } else {
      if ((m = / pid (\d+): /.exec(line))) pids.add(m[1]);
      seen.helpers.push(line.replace(/ pid \d+: /, ' pid PID: '));
    }
  }
  for (const p of pids) assert.equal(p, pid, `a helper's line carries pid ${p}, the connection's is ${pid}`);
  seen.into = recordedStream(into);
  seen.out = recordedStream(out);
  return seen;
}

const DIALOGUE = 'help\r\nHELO x\r\nEhLo y\r\nmail from:<a@b>\r\nrcpt to:<c@d>\r\ndata\r\nrset\r\nnoop\r\nvrfy z\r\n\r\nquit\r\n';
const SMTP = 'helo x\r\nmail from:<a@b>\r\nquit\r\n';

const CASES: Array<[string, Scenario]> = [
  [
    'rblsmtpd: an unlisted client reaches the SMTP program',
    { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], from: '127.0.0.1', send: SMTP },
  ],
  [
    'rblsmtpd: a listed client gets the refusal dialogue, logged',
    { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], from: '127.0.0.2', send: DIALOGUE },
  ],
  ['rblsmtpd -b: 553', { chain: ['rblsmtpd', '-b', '-r', 'rbl.test', SMTPD], from: '127.0.0.2', send: 'rcpt\r\nquit\r\n' }],
  ['rblsmtpd: TXT strings joined', { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], from: '127.0.0.4', send: 'rcpt\r\n' }],
  [
    'rblsmtpd -a accepts before a later -r',
    { chain: ['rblsmtpd', '-a', 'white.test', '-r', 'rbl.test', SMTPD], from: '127.0.0.2', send: SMTP },
  ],
  [
    'rblsmtpd -c: a failed lookup blocks; -t0',
    { chain: ['rblsmtpd', '-c', '-t0', '-r', LONG_LABEL, SMTPD], from: '127.0.0.2', send: SMTP },
  ],
  ['rblsmtpd -C: a failed lookup lets through', { chain: ['rblsmtpd', '-r', LONG_LABEL, SMTPD], from: '127.0.0.2', send: SMTP }],
  [
    'rblsmtpd: RBLSMTPD from a rule blocks',
    { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], flags: ['-x', 'rules.cdb'], from: '127.0.0.3', send: DIALOGUE },
  ],
  [
    'rblsmtpd: an empty RBLSMTPD from a rule lets a listed client through',
    { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], flags: ['-x', 'rules.cdb'], from: '127.0.0.2', send: SMTP },
  ],
  [
    "rblsmtpd: RBLSMTPD from tcpserver's environment",
    { chain: ['rblsmtpd', SMTPD], env: { RBLSMTPD: 'Error' }, from: '127.0.0.1', send: 'noop\r\nquit' },
  ],
  [
    'rblsmtpd -t1: a silent client is let go',
    { chain: ['rblsmtpd', '-t1', '-r', 'rbl.test', SMTPD], from: '127.0.0.2', send: 'noop\r\n', keepOpen: true },
  ],
  ['rblsmtpd: the program exits 3', { chain: ['rblsmtpd', '-r', 'rbl.test', 'sh', '-c', 'exit 3'], from: '127.0.0.1' }],
  ['rblsmtpd: the program cannot be run', { chain: ['rblsmtpd', '-r', 'rbl.test', './nonexistent-smtpd'], from: '127.0.0.1' }],
  ['rblsmtpd with a usage error runs as a program and says so', { chain: ['rblsmtpd', '-R', SMTPD], from: '127.0.0.2' }],
  [
    'the program environment, rule variables included',
    {
      chain: ['rblsmtpd', '-r', 'rbl.test', 'fixcrio', 'argv0', 'env', 'ENV'],
      flags: ['-x', 'rules.cdb'],
      from: '127.0.0.1',
      envOutput: true,
    },
  ],
  ['recordio', { chain: ['recordio', 'cat'], send: 'test\n\nab\ncd', waitFor: [/ > \[EOF\]$/] }],
  ['recordio, 600 bytes without LF', { chain: ['recordio', 'cat'], send: 'a'.repeat(600), waitFor: [/ > \[EOF\]$/] }],
  [
    'rblsmtpd then recordio',
    { chain: ['rblsmtpd', '-r', 'rbl.test', 'recordio', SMTPD], from: '127.0.0.1', send: SMTP, waitFor: [/ > \[EOF\]$/] },
  ],
  [
    'recordio then a blocked rblsmtpd',
    { chain: ['recordio', 'rblsmtpd', '-r', 'rbl.test', SMTPD], from: '127.0.0.2', send: DIALOGUE, waitFor: [/ > \[EOF\]$/] },
  ],
  [
    'recordio then rblsmtpd -t1 with a silent client',
    {
      chain: ['recordio', 'rblsmtpd', '-t1', '-r', 'rbl.test', SMTPD],
      from: '127.0.0.2',
      send: 'noop\r\n',
      keepOpen: true,
      waitFor: [/ > \[EOF\]$/],
    },
  ],
  ['recordio then a program that cannot be run', { chain: ['recordio', './nonexistent'], keepOpen: true, waitFor: [/ > \[EOF\]$/] }],
  ['fixcrio (rts)', { chain: ['fixcrio', 'sh', '-c', 'cat; echo bye'], send: '\nhi\nthere\r\n' }],
  ['recordio around fixcrio', { chain: ['recordio', 'fixcrio', 'sh', '-c', 'echo a; cat'], send: 'x\ny\r\nz', waitFor: [/ > \[EOF\]$/] }],
  ['fixcrio: exit status', { chain: ['fixcrio', 'sh', '-c', 'exit 3'] }],
  ['argv0', { chain: ['argv0', 'sh', 'zero', '-c', 'echo $0'] }],
  ['argv0 then the program cannot be run', { chain: ['argv0', './nonexistent', 'x'] }],
  ['addcr', { chain: ['addcr', 'ignored'], send: 'a\nb\r\nc' }],
  ['delcr', { chain: ['delcr'], send: 'a\r\nb\r\r\nc\r' }],
  ['recordio then delcr', { chain: ['recordio', 'delcr'], send: 'x\r\ny\r', waitFor: [/ > \[EOF\]$/] }],
];

describe('the chain in-process, as external programs, and in C', () => {
  for (const [name, scenario] of CASES) {
    it(name, async () => {
      const modes = MODES.filter((m) => m !== 'c' || !skipCChain);
      const [inProcess, external, c] = await Promise.all(modes.map((m) => runScenario(m, scenario)));
      assert.deepEqual(inProcess, external, 'in-process against external');
      if (c) assert.deepEqual(inProcess, c, 'in-process against C');
    });
  }

  // the patches' additions, which the C rblsmtpd does not have: ours only
  const OURS_ONLY: Array<[string, Scenario]> = [
    [
      "RBLTIMEOUT: the lookups give up, the line carries the program's pid",
      { chain: ['rblsmtpd', '-r', 'silent.test', SMTPD], env: { RBLTIMEOUT: '1' }, from: '127.0.0.2', send: SMTP },
    ],
    ['an IPv6 client looked up by its nibbles', { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], six: true, send: 'rcpt\r\n' }],
  ];
  it('without FFI (child_process spawns the program) the chain gives the same', async () => {
    for (const scenario of [
      { chain: ['recordio', 'fixcrio', 'sh', '-c', 'echo a; cat'], send: 'x\ny\r\nz', waitFor: [/ > \[EOF\]$/] },
      { chain: ['rblsmtpd', '-r', 'rbl.test', SMTPD], from: '127.0.0.2', send: DIALOGUE },
      { chain: ['rblsmtpd', '-r', 'rbl.test', './nonexistent-smtpd'], from: '127.0.0.1' },
    ]) {
      const noFfi = { ...scenario, env: { UCSPI_TS_NO_FFI: '1' } };
      const [inProcess, external] = await Promise.all([runScenario('in-process', noFfi), runScenario('external', scenario)]);
      assert.deepEqual(inProcess, external, scenario.chain.join(' '));
    }
  });

  for (const [name, scenario] of OURS_ONLY) {
    it(name, async () => {
      const [inProcess, external] = await Promise.all([runScenario('in-process', scenario), runScenario('external', scenario)]);
      assert.deepEqual(inProcess, external);
      assert.ok(inProcess.helpers.length === 1, inProcess.helpers.join('\n'));
    });
  }
});

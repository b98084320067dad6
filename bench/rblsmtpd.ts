// Benchmark: one rblsmtpd run per SMTP connection, ours against Debian's C binary in the same run.
//
//   npx tsc -p . && node dist/bench/rblsmtpd.js [runs=40]      (as root: the DNS server uses port 53)
//
// Each run is `/usr/bin/time -f %M <rblsmtpd> ...`: wall time of the whole run (start-up, lookup,
// then exec of `true` or the -t0 refusal) and the peak RSS in KB (ru_maxrss survives the exec, so
// it is rblsmtpd's own peak). Medians over `runs` runs per case, C and ours alternating.
// Cases: RBLSMTPD="" (no lookup, straight exec), one unlisted TXT lookup then exec, one listed
// lookup then the -t0 refusal; `node -e 0` as the floor. DNS is the test responder on a random 127.x (same for both).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DnsTestServer } from '../test/support/dns-server';

const ROOT = resolve(__dirname, '..', '..');
const OURS = join(ROOT, 'bin', 'rblsmtpd');
const C = existsSync('/usr/bin/rblsmtpd') ? '/usr/bin/rblsmtpd' : null;
const [runs = 40] = process.argv.slice(2).map(Number);

interface Sample {
  ms: number;
  kb: number;
}

function once(prog: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((resolvePromise, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M', prog, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const kb = Number(err.trim().split('\n').pop());
      if (code !== 0 || !Number.isFinite(kb)) reject(new Error(`${prog} ${args.join(' ')}: exit ${code}: ${err}`));
      else resolvePromise({ ms, kb });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const dns = await DnsTestServer.start({ '2.0.0.127.rbl.test': { TXT: ['listed'] } });
  const base = { PATH: process.env.PATH, DNSCACHEIP: dns.address };
  const cases: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['RBLSMTPD="" then exec true', ['-r', 'rbl.test', 'true'], { ...base, TCPREMOTEIP: '127.0.0.2', RBLSMTPD: '' }],
    ['unlisted (-r, NXDOMAIN) then exec true', ['-r', 'rbl.test', 'true'], { ...base, TCPREMOTEIP: '127.0.0.1' }],
    ['listed (-r TXT), -t0 refusal', ['-t0', '-r', 'rbl.test', 'true'], { ...base, TCPREMOTEIP: '127.0.0.2' }],
  ];
  console.log(`rblsmtpd, ${runs} runs per case, medians (node ${process.version})`);
  console.log('| case | C ms | ours ms | C peak RSS KB | ours peak RSS KB |');
  console.log('|---|---|---|---|---|');
  const bare: Sample[] = [];
  for (let i = 0; i < runs; i++) bare.push(await once(process.execPath, ['-e', '0'], base));
  console.log(`| baseline: node -e 0 | | ${median(bare.map((s) => s.ms)).toFixed(1)} | | ${median(bare.map((s) => s.kb)).toFixed(0)} |`);
  for (const [name, args, env] of cases) {
    const c: Sample[] = [];
    const o: Sample[] = [];
    await once(OURS, args, env); // warm the compile cache
    for (let i = 0; i < runs; i++) {
      if (C) c.push(await once(C, args, env));
      o.push(await once(OURS, args, env));
    }
    const f = (xs: Sample[], k: keyof Sample): string => (xs.length ? median(xs.map((s) => s[k])).toFixed(k === 'ms' ? 1 : 0) : 'n/a');
    console.log(`| ${name} | ${f(c, 'ms')} | ${f(o, 'ms')} | ${f(c, 'kb')} | ${f(o, 'kb')} |`);
  }
  await dns.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

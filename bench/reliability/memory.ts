// tcpserver's memory under load and its connection rate, for V8's default heap sizing against the
// sizing bin/tcpserver starts Node with, next to the C tcpserver; alternating, several rounds.
//
//   npm run build && node dist/bench/reliability/memory.js [connections] [clients] [rounds]
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { soak } from './soak';

const ROOT = join(__dirname, '..', '..', '..');
const N = Number(process.argv[2] ?? 30_000);
const K = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);

/** The server as a command: bin/tcpserver, or node on the bundle with V8's defaults (a wrapper script). */
const VARIANTS: Array<[string, string]> = [
  ['C', '/usr/bin/tcpserver'],
  ['ours, V8 defaults', join(ROOT, 'bench', 'reliability', 'tcpserver-v8-defaults')],
  ['ours, bin/tcpserver', join(ROOT, 'bin', 'tcpserver')],
];

async function main(): Promise<void> {
  console.log(
    `${N} connections at ${K} clients, ${ROUNDS} rounds, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  console.log('| server | round | RSS MB idle | RSS MB max under load | RSS MB after | conn/s |');
  console.log('|---|---|---|---|---|---|');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, file] of VARIANTS) {
      const r = await soak(file, { connections: N, clients: K, program: ['true'], expect: '' });
      const mb = (kb: number) => (kb / 1024).toFixed(1);
      console.log(`| ${name} | ${round} | ${mb(r.rssKb.idle)} | ${mb(r.rssKb.max)} | ${mb(r.rssKb.after)} | ${r.rate.toFixed(0)} |`);
    }
  }
  console.log(`\nload average now ${loadavg()[0].toFixed(2)}`);
}

void main();

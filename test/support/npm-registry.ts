// A package registry on loopback for `npm install` in tests: it serves the packages already
// installed in this checkout's node_modules (packed with npm pack), and answers 404 for anything
// else. So installing the packed ucspi-ts resolves its dependencies without reaching the network.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';

interface Served {
  readonly packument: Record<string, unknown>;
  readonly file: string;
}

export interface LocalRegistry {
  readonly url: string;
  /** package names requested that were not served (404) */
  readonly misses: string[];
  close(): Promise<void>;
}

/** Pack `dir` (an installed package) into `into`; its file name and integrity. */
function pack(dir: string, into: string): { filename: string; integrity: string; shasum: string } {
  const r = spawnSync('npm', ['pack', dir, '--ignore-scripts', '--json', '--pack-destination', into], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`npm pack ${dir}: ${r.stderr}`);
  return JSON.parse(r.stdout)[0];
}

/** Serve the installed packages at `dirs` (node_modules/<name>) from 127.0.0.1. */
export async function localRegistry(dirs: readonly string[], work: string): Promise<LocalRegistry> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const served = new Map<string, Served>();
  for (const dir of dirs) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const { filename, integrity, shasum } = pack(dir, work);
    const version = {
      ...manifest,
      _id: `${manifest.name}@${manifest.version}`,
      dist: { tarball: `${url}-/${filename}`, integrity, shasum },
    };
    served.set(manifest.name, {
      packument: { name: manifest.name, 'dist-tags': { latest: manifest.version }, versions: { [manifest.version]: version } },
      file: join(work, filename),
    });
  }
  const misses: string[] = [];
  server.on('request', (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]).slice(1);
    if (path.startsWith('-/')) {
      const hit = [...served.values()].find((s) => s.file.endsWith(`/${path.slice(2)}`));
      if (hit) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(readFileSync(hit.file));
        return;
      }
    }
    const hit = served.get(path);
    if (hit) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(hit.packument));
      return;
    }
    misses.push(path);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}');
  });
  return { url, misses, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

// The certificates a TLS server presents: the default one (CERTFILE/KEYFILE or CERTCHAINFILE), and one
// per server name a client may ask for by SNI, set as s6-networking sets them (`CERTFILE:name`,
// `KEYFILE:name` in the environment; `*.example.org` for every name one label below example.org).
// Each is read again when its files change (looked at by stat as each handshake starts: a renewed
// certificate counts from the next connection, with no signal and no restart; sessions in progress
// keep theirs). A change that does not load (a key not written yet) keeps the one in use, said once.
import { statSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import { ContextSettings, makeContext } from './context';
import type { ContextFailure } from './messages';

/** The files of one certificate: a chain file, or a certificate file and its key (null: in the certificate's file). */
export interface CertificateFiles {
  readonly chainFile?: string | null;
  readonly certFile?: string | null;
  readonly keyFile?: string | null;
}

/** One SNI entry from the environment: the name as given (lower case), its files. */
export interface NamedCertificate {
  readonly name: string;
  readonly files: CertificateFiles;
}

const CERT_PREFIX = 'CERTFILE:';
const KEY_PREFIX = 'KEYFILE:';

/**
 * The `CERTFILE:name` entries of an environment with their `KEYFILE:name` (empty values are none, as
 * ucspi-ssl reads its variables), in the environment's order; `orphanKeys`: names with a key and no
 * certificate, a mistake worth stopping for.
 */
export function namedCertificates(environ: readonly string[]): { named: NamedCertificate[]; orphanKeys: string[] } {
  const certs = new Map<string, string>();
  const keys = new Map<string, string>();
  for (const e of environ) {
    const eq = e.indexOf('=');
    if (eq < 0 || eq === e.length - 1) continue;
    const name = e.slice(0, eq);
    const value = e.slice(eq + 1);
    if (name.startsWith(CERT_PREFIX) && name.length > CERT_PREFIX.length) {
      const host = name.slice(CERT_PREFIX.length).toLowerCase();
      if (!certs.has(host)) certs.set(host, value);
    } else if (name.startsWith(KEY_PREFIX) && name.length > KEY_PREFIX.length) {
      const host = name.slice(KEY_PREFIX.length).toLowerCase();
      if (!keys.has(host)) keys.set(host, value);
    }
  }
  const named = [...certs].map(([name, certFile]) => ({ name, files: { certFile, keyFile: keys.get(name) ?? null } }));
  return { named, orphanKeys: [...keys.keys()].filter((name) => !certs.has(name)) };
}

/** What a file looks like now: a changed file (rewritten, or a symbolic link pointed elsewhere) looks different. */
function fileSignature(path: string): string {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'none';
  }
}

/** One certificate as served: its context, made again when its files change. */
export class ServedCertificate {
  private signature: string;
  private context: SecureContext;
  /** the signature of files that did not load: not tried again (nor told again) until they change */
  private failed = '';

  constructor(
    /** the SNI name, or null for the default certificate */
    readonly name: string | null,
    private readonly files: CertificateFiles,
    private readonly shared: ContextSettings,
    private readonly reloadFailed: (name: string | null, failure: ContextFailure) => void,
    first: SecureContext,
  ) {
    this.signature = this.look();
    this.context = first;
  }

  private paths(): string[] {
    const { chainFile, certFile, keyFile } = this.files;
    const cert = chainFile ?? certFile;
    return [cert, keyFile].filter((p): p is string => !!p);
  }

  private look(): string {
    return this.paths().map(fileSignature).join('|');
  }

  /** The context to use now: re-made first if the files changed since they were last read. */
  current(): SecureContext {
    const now = this.look();
    if (now === this.signature || now === this.failed) return this.context;
    const made = makeContext({ ...this.shared, ...this.files });
    if ('context' in made) {
      this.signature = now;
      this.context = made.context;
      this.failed = '';
    } else {
      // tried again once the files change again: the rest of a renewal may still be on its way
      this.failed = now;
      this.reloadFailed(this.name, made.failure);
    }
    return this.context;
  }
}

/** The default certificate and those chosen by SNI: exact names first, then `*.` wildcards one label deep. */
export class ServerCertificates {
  private readonly exact = new Map<string, ServedCertificate>();
  private readonly wildcards = new Map<string, ServedCertificate>();

  constructor(
    readonly fallback: ServedCertificate,
    named: readonly ServedCertificate[] = [],
  ) {
    for (const c of named) {
      const name = c.name as string;
      if (name.startsWith('*.')) this.wildcards.set(name.slice(2), c);
      else this.exact.set(name, c);
    }
  }

  /** Whether any name has a certificate of its own (then SNI is looked at). */
  get byName(): boolean {
    return this.exact.size > 0 || this.wildcards.size > 0;
  }

  /** The certificate for a name a client asked for (any case, a trailing dot allowed). */
  forName(servername: string): ServedCertificate {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wild = dot > 0 ? this.wildcards.get(name.slice(dot + 1)) : undefined;
    return wild ?? this.fallback;
  }
}

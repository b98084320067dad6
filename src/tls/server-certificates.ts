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

/** One SNI entry from the environment: the name as given (lower case, no trailing dot), its files. */
export interface NamedCertificate {
  readonly name: string;
  readonly files: CertificateFiles;
}

/** A server name as certificates are looked up by: any case, a trailing dot allowed. */
export function serverNameKey(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
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
    const table = name.startsWith(CERT_PREFIX) ? certs : name.startsWith(KEY_PREFIX) ? keys : null;
    if (table === null) continue;
    const host = serverNameKey(name.slice(name.indexOf(':') + 1));
    // the first of a name wins, as getenv finds it
    if (host !== '' && !table.has(host)) table.set(host, e.slice(eq + 1));
  }
  const named = [...certs].map(([name, certFile]) => ({ name, files: { certFile, keyFile: keys.get(name) ?? null } }));
  return { named, orphanKeys: [...keys.keys()].filter((name) => !certs.has(name)) };
}

/**
 * What a file looks like now: a changed file (rewritten, or a symbolic link pointed elsewhere) looks
 * different. Plain numbers (the times in ms with their fraction): bigint stats cost twice as much.
 */
function fileSignature(path: string): string {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st === undefined ? 'none' : `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return 'none';
  }
}

/** What a certificate tells as its files are read again. */
export interface ReloadReport {
  /** the files loaded: the certificate now served */
  reloaded(c: ServedCertificate): void;
  /** they did not: the one in use is kept */
  failed(c: ServedCertificate, failure: ContextFailure): void;
}

/** One certificate as served: its context, made again when its files change. */
export class ServedCertificate {
  /** the signature of files that did not load: not tried again (nor told again) until they change */
  private failed = '';

  private constructor(
    /** the SNI name, or null for the default certificate */
    readonly name: string | null,
    readonly files: CertificateFiles,
    private readonly shared: ContextSettings,
    private readonly report: ReloadReport,
    private signature: string,
    private context: SecureContext,
  ) {}

  /** The certificate as its files are now, or why they do not load. */
  static load(
    name: string | null,
    files: CertificateFiles,
    shared: ContextSettings,
    report: ReloadReport,
  ): ServedCertificate | { failure: ContextFailure } {
    // looked at before reading: a change while they are read is seen at the next look
    const signature = look(files);
    const made = makeContext({ ...shared, ...files });
    if ('failure' in made) return made;
    return new ServedCertificate(name, files, shared, report, signature, made.context);
  }

  /** The context to use now: re-made first if the files changed since they were last read. */
  current(): SecureContext {
    const now = look(this.files);
    if (now !== this.signature && now !== this.failed) this.reload(now);
    return this.context;
  }

  /** Read the files again whether they changed or not (SIGHUP), and say how it went. */
  reloadNow(): void {
    this.reload(look(this.files));
  }

  private reload(now: string): void {
    const made = makeContext({ ...this.shared, ...this.files });
    if ('context' in made) {
      this.signature = now;
      this.context = made.context;
      this.failed = '';
      this.report.reloaded(this);
    } else {
      // tried again once the files change again: the rest of a renewal may still be on its way
      this.failed = now;
      this.report.failed(this, made.failure);
    }
  }
}

/** The certificate's file (or chain file) and its key file, null where there is none. */
export function certificatePaths(files: CertificateFiles): { cert: string | null; key: string | null } {
  return { cert: files.chainFile || files.certFile || null, key: files.keyFile || null };
}

/** What the files of a certificate look like now. */
function look(files: CertificateFiles): string {
  const { cert, key } = certificatePaths(files);
  return [cert, key]
    .filter((p): p is string => p !== null)
    .map(fileSignature)
    .join('|');
}

/** The default certificate and those chosen by SNI: exact names first, then `*.` wildcards one label deep. */
export class ServerCertificates {
  private readonly exact = new Map<string, ServedCertificate>();
  private readonly wildcards = new Map<string, ServedCertificate>();

  constructor(
    readonly fallback: ServedCertificate,
    private readonly named: readonly ServedCertificate[] = [],
  ) {
    for (const c of named) {
      const name = c.name as string;
      if (name.startsWith('*.')) this.wildcards.set(name.slice(2), c);
      else this.exact.set(name, c);
    }
  }

  /** Every certificate, the default first, then the named ones as the environment gave them. */
  get all(): ServedCertificate[] {
    return [this.fallback, ...this.named];
  }

  /** Whether any name has a certificate of its own (then SNI is looked at). */
  get byName(): boolean {
    return this.exact.size > 0 || this.wildcards.size > 0;
  }

  /** The certificate for a name a client asked for (any case, a trailing dot allowed). */
  forName(servername: string): ServedCertificate {
    const name = serverNameKey(servername);
    const exact = this.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wild = dot > 0 ? this.wildcards.get(name.slice(dot + 1)) : undefined;
    return wild ?? this.fallback;
  }
}

// TLS for a server, made once at start-up: sslserver's from its environment (ucspi-ssl's variables),
// tcpserver -s's from its one PEM file (the ssl20020705 patch). A bad file ends the server with the
// original's message and 111.
import { accessSync, constants } from 'node:fs';
import type { Diagnostics } from '../messages';
import type { SecureParts } from '../server/run';
import { scanNumber } from '../scan';
import { inheritedUnacted, SIGHUP } from '../signals';
import type { ClientCheck } from './client-certificate';
import { ContextSettings, pemCertificates, readText } from './context';
import { sslEnvironment } from './environment';
import { HandshakeSettings, handshakeStep } from './handshake';
import { ucspiTlsDescriptors, ucspiTlsStep } from './ucspi-tls';
import {
  CLIENT_CA_FAILURE,
  ContextFailure,
  namedFailure,
  PASSWORD_TOO_LONG,
  PATCH_CONTEXT_FAILURES,
  patchHandshakeFailure,
  READ_PASSWORD,
  reloadFailure,
  reloadLine,
  SSLSERVER_CONTEXT_FAILURES,
  sslserverHandshakeFailure,
} from './messages';
import type { PasswordResult } from './password';
import {
  certificatePaths,
  CertificateFiles,
  namedCertificates,
  ReloadReport,
  ServedCertificate,
  ServerCertificates,
} from './server-certificates';
import type { SslServerOptions } from './sslserver-options';

/** The patch has no handshake timeout; a client that never finishes must not hold its -c slot for ever. */
export const PATCH_HANDSHAKE_SECONDS = 26;
/** The patch's relay gives up after an hour without input. */
export const PATCH_IDLE_SECONDS = 3600;

/** A variable of the start-up environment as ucspi-ssl reads it: unset or empty is none. */
function variable(environ: readonly string[], name: string): string | null {
  const prefix = name + '=';
  const e = environ.find((x) => x.startsWith(prefix));
  return e === undefined || e.length === prefix.length ? null : e.slice(prefix.length);
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * How a server tells its certificates' renewals: a failure is a warning; sslserver -v names each one
 * read again (tcpserver -s keeps 0.88's -v lines).
 */
function reloadReport(diag: Diagnostics, failures: Record<ContextFailure, string>, announce: boolean): ReloadReport {
  return {
    reloaded: (c) => {
      if (!announce || diag.verbosity < 2) return;
      const { cert, key } = certificatePaths(c.files);
      diag.line(reloadLine(diag.program, process.pid, cert ?? '', key, c.name));
    },
    failed: (c, failure) => diag.warn(reloadFailure(failures[failure], c.name)),
  };
}

/** The first context of a certificate, or the original's fatal message (with the SNI name, if any). */
function servedOrDie(
  diag: Diagnostics,
  name: string | null,
  files: CertificateFiles,
  shared: ContextSettings,
  failures: Record<ContextFailure, string>,
  announce = true,
): ServedCertificate {
  const served = ServedCertificate.load(name, files, shared, reloadReport(diag, failures, announce));
  if ('failure' in served) return diag.fatal(namedFailure(failures[served.failure], name));
  return served;
}

/**
 * SIGHUP reads every certificate again at once. Renewals need no signal (each handshake looks at the
 * files first), but `svc -h`, `systemctl reload` or a renewal hook's `kill -HUP` must not kill a
 * server whose TLS sessions live in its process: 0.95b dies of SIGHUP and its connections, each in a
 * process of its own, go on; ours would all end.
 */
function reloadOnHangup(certificates: ServerCertificates): void {
  // inherited ignored (nohup) it stays ignored, as 0.95b's, and so it stays for the programs
  if (inheritedUnacted(SIGHUP)) return;
  process.on('SIGHUP', () => {
    for (const c of certificates.all) c.reloadNow();
  });
}

/** The client certificate settings: -m/-z with CCAFILE (`-` turns them off, as in ucspi-ssl), VERIFYDEPTH. */
function clientCertificates(diag: Diagnostics, o: SslServerOptions, get: (name: string) => string | null, caList: boolean) {
  const ccaFile = get('CCAFILE');
  const mode = ccaFile === '-' ? 'none' : o.clientCertificates;
  const asked = mode === 'none' ? null : ccaFile;
  // the list is read to be checked; the names a client is sent are those of CAFILE and CADIR (Node
  // has no list of its own for them)
  if (asked !== null) {
    const text = readText(asked);
    if (text === null || !pemCertificates(text)) diag.fatal(CLIENT_CA_FAILURE);
  }
  const depth = get('VERIFYDEPTH');
  const clientCheck: ClientCheck = { mode, verifyDepth: depth === null ? 1 : scanNumber(depth, 32), trusting: caList };
  // without CCAFILE ucspi-ssl asks for no certificate, and every client is then without one
  return { clientCheck, requestCert: asked !== null, ccaFile: asked };
}

/**
 * sslserver's TLS: CERTFILE, KEYFILE, CERTCHAINFILE, CAFILE, CADIR, CCAFILE, VERIFYDEPTH, DHFILE,
 * CIPHERS, and `CERTFILE:name`/`KEYFILE:name` for SNI; -v lists them.
 */
export function sslserverSecure(
  diag: Diagnostics,
  o: SslServerOptions,
  password: PasswordResult | null,
): (environ: readonly string[]) => SecureParts {
  return (environ) => {
    if (password && 'error' in password) diag.fatalSys(READ_PASSWORD, password.error);
    if (password && 'tooLong' in password) diag.fatal(PASSWORD_TOO_LONG);
    const get = (name: string) => variable(environ, name);
    const shared: ContextSettings = {
      password: password && 'password' in password ? password.password : null,
      caFile: get('CAFILE'),
      caDir: get('CADIR'),
      dhFile: get('DHFILE'),
      ciphers: get('CIPHERS'),
    };
    const files: CertificateFiles = { chainFile: get('CERTCHAINFILE'), certFile: get('CERTFILE'), keyFile: get('KEYFILE') };
    // no compiled-in default certificate to fall back on: without one every handshake would fail
    if (!files.chainFile && !files.certFile) diag.fatal(SSLSERVER_CONTEXT_FAILURES.cert);
    const fallback = servedOrDie(diag, null, files, shared, SSLSERVER_CONTEXT_FAILURES);
    const { named, orphanKeys } = namedCertificates(environ);
    if (orphanKeys.length > 0) diag.fatal(namedFailure(SSLSERVER_CONTEXT_FAILURES.cert, orphanKeys[0]));
    const byName = named.map((n) => servedOrDie(diag, n.name, n.files, shared, SSLSERVER_CONTEXT_FAILURES));
    const clients = clientCertificates(diag, o, get, !!(shared.caFile || shared.caDir));
    if (diag.verbosity >= 2) {
      const pid = process.pid;
      // 0.95b's start-up lines; its DH line ends with a length of temporary RSA keys, long gone
      diag.line(`sslserver: cafile ${pid} ${shared.caFile ?? ''}`);
      diag.line(`sslserver: ccafile ${pid} ${clients.ccaFile ?? ''}`);
      diag.line(`sslserver: cadir ${pid} ${shared.caDir ?? ''}`);
      diag.line(`sslserver: chainfile ${pid} ${files.chainFile ?? ''}`);
      diag.line(`sslserver: cert ${pid} ${files.certFile ?? ''}`);
      diag.line(`sslserver: key ${pid} ${files.keyFile ?? ''}`);
      diag.line(`sslserver: param ${pid} ${shared.dhFile ?? ''} 1024`);
      for (const n of named) diag.line(`sslserver: sni ${pid} ${n.name} ${n.files.certFile} ${n.files.keyFile ?? ''}`);
    }
    const certificates = new ServerCertificates(fallback, byName);
    reloadOnHangup(certificates);
    const settings: HandshakeSettings = {
      certificates,
      requestCert: clients.requestCert,
      clientCheck: clients.clientCheck,
      timeoutMs: o.handshakeTimeout * 1000,
      idleMs: o.idleTimeout * 1000,
      sslEnvironment: o.sslEnvironment,
      failure: sslserverHandshakeFailure,
    };
    const environment = sslEnvironment(o.tcpEnvironment);
    if (!o.delayedTls) return { handshake: handshakeStep(settings), environment };
    // -n: TLS when the program asks; a control socket and two pipes (six ends while it starts)
    return { handshake: ucspiTlsStep({ descriptors: ucspiTlsDescriptors(), handshake: settings }), environment, descriptors: 6 };
  };
}

/** tcpserver -s: key and certificate from the one file of -n; tcpserver's environment unchanged. */
export function patchSecure(diag: Diagnostics, certFile: string): () => SecureParts {
  return () => {
    // the patch reads the key first: a file it cannot read fails there
    if (!readable(certFile)) diag.fatal(PATCH_CONTEXT_FAILURES.key);
    const certificate = servedOrDie(diag, null, { certFile, keyFile: certFile }, {}, PATCH_CONTEXT_FAILURES, false);
    return {
      handshake: handshakeStep({
        certificates: new ServerCertificates(certificate),
        timeoutMs: PATCH_HANDSHAKE_SECONDS * 1000,
        idleMs: PATCH_IDLE_SECONDS * 1000,
        sslEnvironment: false,
        failure: patchHandshakeFailure,
      }),
    };
  };
}

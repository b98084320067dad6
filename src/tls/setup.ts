// TLS for a server, made once at start-up: sslserver's from its environment (ucspi-ssl's variables),
// tcpserver -s's from its one PEM file (the ssl20020705 patch). A bad file ends the server with the
// original's message and 111.
import { accessSync, constants } from 'node:fs';
import type { Diagnostics } from '../messages';
import type { SecureParts } from '../server/run';
import { ContextSettings, makeContext } from './context';
import { sslEnvironment } from './environment';
import { handshakeStep } from './handshake';
import {
  ContextFailure,
  PASSWORD_TOO_LONG,
  PATCH_CONTEXT_FAILURES,
  patchHandshakeFailure,
  READ_PASSWORD,
  SSLSERVER_CONTEXT_FAILURES,
  sslserverHandshakeFailure,
} from './messages';
import type { PasswordResult } from './password';
import type { SslServerOptions } from './sslserver-options';
import type { SecureContext } from 'node:tls';

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

function contextOrDie(diag: Diagnostics, settings: ContextSettings, failures: Record<ContextFailure, string>): SecureContext {
  const made = makeContext(settings);
  if ('failure' in made) return diag.fatal(failures[made.failure]);
  return made.context;
}

/** sslserver's TLS: CERTFILE, KEYFILE, CERTCHAINFILE, CAFILE, CADIR, DHFILE, CIPHERS; -v lists them. */
export function sslserverSecure(
  diag: Diagnostics,
  o: SslServerOptions,
  password: PasswordResult | null,
): (environ: readonly string[]) => SecureParts {
  return (environ) => {
    if (password && 'error' in password) diag.fatalSys(READ_PASSWORD, password.error);
    if (password && 'tooLong' in password) diag.fatal(PASSWORD_TOO_LONG);
    const get = (name: string) => variable(environ, name);
    const settings: ContextSettings = {
      chainFile: get('CERTCHAINFILE'),
      certFile: get('CERTFILE'),
      keyFile: get('KEYFILE'),
      password: password && 'password' in password ? password.password : null,
      caFile: get('CAFILE'),
      dhFile: get('DHFILE'),
      ciphers: get('CIPHERS'),
    };
    // no compiled-in default certificate to fall back on: without one every handshake would fail
    if (!settings.chainFile && !settings.certFile) diag.fatal(SSLSERVER_CONTEXT_FAILURES.cert);
    const context = contextOrDie(diag, settings, SSLSERVER_CONTEXT_FAILURES);
    if (diag.verbosity >= 2) {
      const pid = process.pid;
      // 0.95b's start-up lines; its DH line ends with a length of temporary RSA keys, long gone
      diag.line(`sslserver: cafile ${pid} ${settings.caFile ?? ''}`);
      diag.line(`sslserver: ccafile ${pid} `);
      diag.line(`sslserver: cadir ${pid} ${get('CADIR') ?? ''}`);
      diag.line(`sslserver: chainfile ${pid} ${settings.chainFile ?? ''}`);
      diag.line(`sslserver: cert ${pid} ${settings.certFile ?? ''}`);
      diag.line(`sslserver: key ${pid} ${settings.keyFile ?? ''}`);
      diag.line(`sslserver: param ${pid} ${settings.dhFile ?? ''} 1024`);
    }
    return {
      handshake: handshakeStep({
        context,
        timeoutMs: o.handshakeTimeout * 1000,
        idleMs: o.idleTimeout * 1000,
        sslEnvironment: o.sslEnvironment,
        failure: sslserverHandshakeFailure,
      }),
      environment: sslEnvironment(o.tcpEnvironment),
    };
  };
}

/** tcpserver -s: key and certificate from the one file of -n; tcpserver's environment unchanged. */
export function patchSecure(diag: Diagnostics, certFile: string): () => SecureParts {
  return () => {
    // the patch reads the key first: a file it cannot read fails there
    if (!readable(certFile)) diag.fatal(PATCH_CONTEXT_FAILURES.key);
    const context = contextOrDie(diag, { certFile, keyFile: certFile }, PATCH_CONTEXT_FAILURES);
    return {
      handshake: handshakeStep({
        context,
        timeoutMs: PATCH_HANDSHAKE_SECONDS * 1000,
        idleMs: PATCH_IDLE_SECONDS * 1000,
        sslEnvironment: false,
        failure: patchHandshakeFailure,
      }),
    };
  };
}

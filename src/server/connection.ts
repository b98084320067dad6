// One connection's way from accept to program, as a list of small steps over a shared context.
// Later layers (TLS, PROXY headers, limits) are further steps in the list.
import type { Socket } from 'node:net';
import { CdbFileCache } from '../cdb/file-cache';
import { errorText } from '../errstr';
import { killIpOptions, libc } from '../ffi';
import { remoteInfo } from '../ident';
import { ip4ForName, ip6ForName, nameForIp } from '../dns';
import { parseIp6 } from '../dns/address';
import { EnvChanges } from '../pathexec';
import { interpretRuleData, lookupRules } from '../rules/lookup';
import type { AcceptedClient } from './accepted';
import { isOutOfDescriptors } from './descriptors';
import type { LimitedConnection } from './limits';
import type { ProgramPlan } from './program';
import type { RelayPlan } from './relay';
import type { ConnectionAddresses } from './address';
import type { ConnectionFacts, TlsFacts } from './log';
import type { UcspiTlsPlan } from '../tls/ucspi-tls';
import type { ServerOptions } from './options';

export interface Connection extends ConnectionFacts, LimitedConnection, ConnectionAddresses {
  /** The connection as accepted: its descriptor, and a net.Socket once a step asks for one. */
  readonly client: AcceptedClient;
  /** The client's socket as a paused net.Socket, made on first use. */
  readonly socket: Socket;
  readonly fd: number;
  /** Set at accept; a PROXY header from a trusted peer replaces them with the real client's. */
  proto6: boolean;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** The addresses came from a PROXY header: the TCP connection is the proxy's (no ident). */
  proxied: boolean;
  localHost: string | null;
  remoteHost: string | null;
  /** -p found a name for the client that does not lead back to it (sslserver -z then names the address). */
  remoteHostRefused?: boolean;
  remoteInfo: string | null;
  /** Environment edits for the program, in 0.88's order. */
  readonly env: EnvChanges;
  deny: boolean;
  /**
   * Set by a step that needs the server between client and program (TLS, in-process helpers):
   * the program then runs on pipes and the server relays. Null: the program gets the socket.
   */
  relay: RelayPlan | null;
  /** Set by a step that chose what runs (the in-process chain). Null: the server's program argv. */
  program: ProgramPlan | null;
  /** The program's environment, once a step has made it from `env` (else made at launch). */
  environ: string[] | null;
  /** Set by a TLS handshake step: the session, for the log's `ssl <pid> accept` line. */
  tls: TlsFacts | null;
  /**
   * Set by sslserver -n's step: the program gets the socket, a control socket and two pipes, and
   * asks for TLS itself (src/tls/ucspi-tls.ts). Null otherwise.
   */
  ucspiTls?: UcspiTlsPlan | null;
}

/** A connection just accepted, before its steps. */
export function acceptedConnection(client: AcceptedClient, fd: number, addresses: ConnectionAddresses): Connection {
  return new AcceptedConnection(client, fd, addresses);
}

/**
 * A class, not an object literal: `socket` is a getter, and a getter in a literal is a new closure
 * per connection, for which V8 makes each connection a map of its own (long-lived garbage that
 * cost 10 µs per connection in major GCs, bench/RESULTS.md). Here it is on the prototype.
 */
class AcceptedConnection implements Connection {
  proto6: boolean;
  tcp6Vars: boolean;
  localIp: string;
  localIp6: string;
  localPort: number;
  remoteIp: string;
  remoteIp6: string;
  remotePort: number;
  interfaceName: string | null;
  proxied = false;
  localHost: string | null = null;
  remoteHost: string | null = null;
  remoteInfo: string | null = null;
  readonly env = new EnvChanges();
  deny = false;
  relay: RelayPlan | null = null;
  tls: TlsFacts | null = null;
  ucspiTls: UcspiTlsPlan | null = null;
  program: ProgramPlan | null = null;
  environ: string[] | null = null;

  constructor(
    readonly client: AcceptedClient,
    readonly fd: number,
    addresses: ConnectionAddresses,
  ) {
    this.proto6 = addresses.proto6;
    this.tcp6Vars = addresses.tcp6Vars;
    this.localIp = addresses.localIp;
    this.localIp6 = addresses.localIp6;
    this.localPort = addresses.localPort;
    this.remoteIp = addresses.remoteIp;
    this.remoteIp6 = addresses.remoteIp6;
    this.remotePort = addresses.remotePort;
    this.interfaceName = addresses.interfaceName;
  }

  get socket(): Socket {
    return this.client.socket();
  }
}

/** The connection's relay plan, made on first use (the socket itself as the client side). */
export function relayOf(c: Connection): RelayPlan {
  if (!c.relay) c.relay = { client: c.socket, layers: [], idleMs: 0 };
  return c.relay;
}

/**
 * A reason to drop the connection: `tcpserver: warning: dropping connection, <reason>`, status 111.
 * `admitted`: the connection had passed the rules (a failed TLS handshake), so its `ok` line is
 * logged before the warning, where ucspi-ssl logs it.
 */
export class Drop extends Error {
  constructor(
    readonly reason: string,
    readonly admitted = false,
  ) {
    super(reason);
  }
}

export type Step = (c: Connection, o: ServerOptions) => void | Promise<void>;

export const socketOptions: Step = (c, o) => {
  if (!o.keepIpOptions) {
    const lib = libc();
    if (lib) killIpOptions(lib, c.fd);
  }
  if (o.noDelay) c.client.setNoDelay();
};

/** -B: written to the client as it is, before the program starts (through TLS once TLS is on). */
export const banner: Step = (c, o) => {
  if (o.banner === '') return;
  const client = (c.relay?.client ?? c.socket) as Socket;
  return new Promise<void>((resolve, reject) => {
    client.write(Buffer.from(o.banner, 'latin1'), (err) => {
      if (err) reject(new Drop(`unable to print banner: ${errorText(err)}`));
      else resolve();
    });
  });
};

async function optional<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch {
    return null;
  }
}

async function remoteHostOf(c: Connection, o: ServerOptions): Promise<string | null> {
  if (!o.remoteHostLookup) return null;
  const name = await optional(nameForIp(c.remoteIp));
  if (!name) return null;
  if (!o.paranoid || (await leadsBack(c, name))) return name;
  c.remoteHostRefused = true;
  return null;
}

/** -p: whether the addresses of `name` include the client's. */
async function leadsBack(c: Connection, name: string): Promise<boolean> {
  if (!c.proto6) {
    const addresses = await optional(ip4ForName(name));
    return !!addresses && addresses.includes(c.remoteIp);
  }
  // IPv6: compare 16-byte addresses, AAAA records and mapped A records alike
  const want = parseIp6(c.remoteIp6);
  const addresses = await optional(ip6ForName(name));
  return !!want && !!addresses && addresses.some((a) => parseIp6(a)?.equals(want));
}

/** TCPLOCALHOST, TCPREMOTEHOST and TCPREMOTEINFO, looked up concurrently (none: at once). */
export const lookups: Step = (c, o) => {
  const askIdent = o.remoteInfoLookup && !c.proxied;
  if (o.localName !== null && !o.remoteHostLookup && !askIdent) {
    c.localHost = o.localName;
    c.remoteHost = null;
    c.remoteInfo = null;
    return;
  }
  return lookUp(c, o);
};

async function lookUp(c: Connection, o: ServerOptions): Promise<void> {
  const [local, remote, info] = await Promise.all([
    o.localName !== null ? o.localName : optional(nameForIp(c.localIp)).then((n) => n || null),
    remoteHostOf(c, o),
    // a proxied client's TCP connection is to the proxy: its ident server knows nothing of ours
    o.remoteInfoLookup && !c.proxied
      ? remoteInfo({
          localIp: c.localIp,
          remoteIp: c.remoteIp,
          localPort: c.localPort,
          remotePort: c.remotePort,
          timeoutMs: o.timeout * 1000,
        })
      : null,
  ]);
  c.localHost = local;
  c.remoteHost = remote;
  c.remoteInfo = info;
}

/** 0.88's variables, in its order; the IPv6 variant interleaves its TCP6* twins (Debian's order). */
export const environment: Step = (c) => {
  const e = c.env;
  const six = c.tcp6Vars;
  e.set('PROTO', c.proto6 ? 'TCP6' : 'TCP').set('TCPLOCALIP', c.localIp);
  if (six) e.set('TCP6LOCALIP', c.localIp6);
  e.set('TCPLOCALPORT', String(c.localPort));
  if (six) e.set('TCP6LOCALPORT', String(c.localPort));
  e.put('TCPLOCALHOST', c.localHost);
  if (six) e.put('TCP6LOCALHOST', c.localHost);
  if (six && c.proto6 && c.interfaceName !== null) e.set('TCP6INTERFACE', c.interfaceName);
  e.set('TCPREMOTEIP', c.remoteIp);
  if (six) e.set('TCP6REMOTEIP', c.remoteIp6);
  e.set('TCPREMOTEPORT', String(c.remotePort));
  if (six) e.set('TCP6REMOTEPORT', String(c.remotePort));
  e.put('TCPREMOTEHOST', c.remoteHost);
  if (six) e.put('TCP6REMOTEHOST', c.remoteHost);
  e.put('TCPREMOTEINFO', c.remoteInfo);
  if (six) e.put('TCP6REMOTEINFO', c.remoteInfo);
};

// one rules file per tcpserver: read from disk again only when it changed (see CdbFileCache)
const rulesFiles = new CdbFileCache();

/** The rules cdb, opened afresh for every connection so a replaced file counts at once. */
export const rules: Step = (c, o) => {
  const file = o.rulesFile;
  if (file === null) return;
  let reader;
  try {
    reader = rulesFiles.open(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && o.rulesMissingOk) return;
    // the server waits and tries again: a client is not dropped because others hold descriptors
    if (isOutOfDescriptors(err)) throw err;
    throw new Drop(`unable to read ${file}: ${errorText(err)}`);
  }
  try {
    const match = lookupRules(reader, { ip: c.remoteIp, host: c.remoteHost, info: c.remoteInfo });
    if (!match) return;
    const decision = interpretRuleData(match.data);
    if (decision.deny) c.deny = true;
    for (const [name, value] of decision.env) c.env.set(name, value);
    c.ruleEnv = decision.env;
  } catch (err) {
    throw new Drop(`unable to read ${file}: ${errorText(err)}`);
  } finally {
    reader.close();
  }
};

/** 0.88's order: socket options, banner, lookups, environment, rules. */
export const STEPS: readonly Step[] = [socketOptions, banner, lookups, environment, rules];

/** The banner of a TLS server: inside TLS, and only to admitted clients (ucspi-ssl's program writes it). */
const bannerInTls: Step = (c, o) => (c.deny ? undefined : banner(c, o));

/**
 * 0.88's steps with the optional ones in their places: the PROXY header right after the socket
 * options (so everything after it sees the real client); the limits after the rules; a TLS
 * handshake after both (denied clients never cost a handshake), with the banner moved behind it;
 * an environment step of the server's own (sslserver's SSL* variables) instead of 0.88's.
 */
export function connectionSteps(optional: {
  readonly proxy?: Step;
  readonly limits?: Step;
  readonly handshake?: Step;
  readonly environment?: Step;
}): Step[] {
  const steps: Step[] = [socketOptions];
  if (optional.proxy) steps.push(optional.proxy);
  if (!optional.handshake) steps.push(banner);
  steps.push(lookups, optional.environment ?? environment, rules);
  if (optional.limits) steps.push(optional.limits);
  if (optional.handshake) steps.push(optional.handshake, bannerInTls);
  return steps;
}

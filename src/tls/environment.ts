// sslserver's variables for the program, in ucspi-ssl 0.95b's order: PROTO=SSL and the SSL* set
// always; with -e the TCP* set interleaved as it sets it, PROTO=TCP (TCP6 for an IPv6 client or with
// -6), TCP6REMOTE* on an IPv6 socket, TCP6LOCAL* for IPv6 clients. The SSL_* set (-s) comes after
// the handshake (src/tls/session.ts), after the rules' variables, as in ucspi-ssl.
import type { Step } from '../server/connection';

export function sslEnvironment(tcp: boolean): Step {
  return (c) => {
    const e = c.env;
    const localPort = String(c.localPort);
    const remotePort = String(c.remotePort);
    e.set('PROTO', 'SSL').set('SSLLOCALIP', c.localIp).set('SSLLOCALPORT', localPort).put('SSLLOCALHOST', c.localHost);
    if (tcp) e.set('TCPLOCALIP', c.localIp).set('TCPLOCALPORT', localPort).put('TCPLOCALHOST', c.localHost);
    e.set('SSLREMOTEIP', c.remoteIp).set('SSLREMOTEPORT', remotePort).put('SSLREMOTEHOST', c.remoteHost);
    if (tcp) {
      e.set('PROTO', c.proto6 ? 'TCP6' : 'TCP');
      if (c.tcp6Vars) e.set('TCP6REMOTEIP', c.remoteIp6).set('TCP6REMOTEPORT', remotePort).put('TCP6REMOTEHOST', c.remoteHost);
      e.set('TCPREMOTEIP', c.remoteIp).set('TCPREMOTEPORT', remotePort).put('TCPREMOTEHOST', c.remoteHost);
      if (c.proto6) {
        e.set('TCP6LOCALIP', c.localIp).put('TCP6LOCALHOST', c.localHost).set('TCP6LOCALPORT', localPort);
        if (c.interfaceName !== null) e.set('TCP6INTERFACE', c.interfaceName);
      }
    }
    e.put('SSLREMOTEINFO', c.remoteInfo);
    if (tcp) e.put('TCPREMOTEINFO', c.remoteInfo);
  };
}

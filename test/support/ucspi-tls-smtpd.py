#!/usr/bin/env python3
# A small SMTP server that speaks UCSPI-TLS as real ones do (qmail-smtpd with a STARTTLS patch,
# s/qmail): it greets on fd 0/1, offers STARTTLS, answers it with 220, asks the server for TLS on
# SSLCTLFD, reads a `Y` reply to end of file, then talks on SSLREADFD/SSLWRITEFD.
#
#   ucspi-tls-smtpd.py MODE [REPORTDIR]
#
# MODE, what it does at STARTTLS: y, Y (ask for TLS); close (close SSLCTLFD, answer 454, go on in
# clear); exit (answer 454 and exit); never (offer no STARTTLS at all); bogus (write `x` on SSLCTLFD);
# Y0 (ask with Y, read the reply up to its closing NUL only: the C sslserver never closes SSLCTLFD).
# With REPORTDIR it writes REPORTDIR/<pid>: the environment, the Y reply, and how the session went,
# as NUL-separated `NAME=value` entries.
import os
import sys

sys.dont_write_bytecode = True  # nothing written beside the tests
from ucspi_tls import ask  # noqa: E402

mode = sys.argv[1]
report_dir = sys.argv[2] if len(sys.argv) > 2 else None
rfd, wfd = 0, 1
report = {'MODE': mode, 'TLS': 'no', 'REPLY': ''}


def save():
    if report_dir is None:
        return
    path = os.path.join(report_dir, str(os.getpid()))
    with open(path + '.tmp', 'wb') as f:
        for k, v in os.environ.items():
            f.write(('ENV:%s=%s\0' % (k, v)).encode('latin1', 'replace'))
        for k, v in report.items():
            f.write(('%s=%s\0' % (k, v)).encode('latin1', 'replace'))
    os.rename(path + '.tmp', path)


def out(text):
    data = text.encode('latin1')
    while data:
        n = os.write(wfd, data)
        data = data[n:]


def line():
    # one byte at a time, as a stdio-less C server must: what follows the line stays in the socket
    buf = b''
    while True:
        b = os.read(rfd, 1)
        if not b:
            return None
        buf += b
        if b == b'\n':
            return buf.decode('latin1').rstrip('\r\n')


def start_tls():
    global rfd, wfd
    ctl = int(os.environ['SSLCTLFD'])
    if mode == 'close':
        os.close(ctl)
        report['CTL'] = 'closed'
        out('454 TLS not available\r\n')
        return
    if mode == 'exit':
        out('454 TLS not available\r\n')
        report['END'] = 'exit before asking'
        save()
        sys.exit(3)
    if mode == 'bogus':
        out('220 ready to start TLS\r\n')
        os.write(ctl, b'x')
        report['CTL'] = 'bogus'
        return
    out('220 ready to start TLS\r\n')
    reply = ask(ctl, mode[0], stop_at_end=mode == 'Y0')
    if mode[0] == 'Y':
        report['REPLY'] = reply.hex()
    rfd = int(os.environ['SSLREADFD'])
    wfd = int(os.environ['SSLWRITEFD'])
    report['TLS'] = 'yes'


out('220 test.example ESMTP\r\n')
in_data = False
while True:
    cmd = line()
    if cmd is None:
        report['END'] = 'eof'
        break
    if in_data:
        if cmd == '.':
            in_data = False
            out('250 accepted\r\n')
        continue
    verb = cmd.split(' ')[0].upper()
    if verb in ('EHLO', 'HELO'):
        if mode != 'never' and report['TLS'] == 'no' and 'CTL' not in report:
            out('250-test.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n')
        else:
            out('250-test.example\r\n250 PIPELINING\r\n')
    elif verb == 'STARTTLS' and mode != 'never' and report['TLS'] == 'no':
        start_tls()
    elif verb in ('MAIL', 'RCPT', 'RSET', 'NOOP'):
        out('250 ok\r\n')
    elif verb == 'DATA':
        in_data = True
        out('354 go ahead\r\n')
    elif verb == 'QUIT':
        out('221 test.example\r\n')
        report['END'] = 'quit'
        break
    else:
        out('502 unimplemented\r\n')
save()

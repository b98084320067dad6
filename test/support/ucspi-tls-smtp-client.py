#!/usr/bin/env python3
# A small SMTP client that speaks UCSPI-TLS, for sslclient -y: it reads the greeting on fd 6, says
# EHLO and STARTTLS on fd 7, asks sslclient for TLS on SSLCTLFD, reads a `Y` reply to end of file,
# then says EHLO and QUIT on SSLWRITEFD and reads SSLREADFD. It prints what it saw on stdout:
# `S: <reply line>` for each server line, `REPLY: NAME=value` for each entry of the Y reply, and
# `ENV: NAME=value` for the UCSPI-TLS and SSL variables it was started with.
#
#   ucspi-tls-smtp-client.py MODE
#
# MODE: y, Y (ask for TLS); close (close SSLCTLFD and QUIT in clear); exit (exit 7 before asking);
# bogus (write `x` on SSLCTLFD).
import os
import sys

sys.dont_write_bytecode = True  # nothing written beside the tests
from ucspi_tls import ask  # noqa: E402

mode = sys.argv[1]
rfd, wfd = 6, 7


def say(text):
    sys.stdout.write(text + '\n')
    sys.stdout.flush()


def reply():
    lines = []
    buf = b''
    while True:
        b = os.read(rfd, 1)
        if not b:
            say('S: EOF')
            return lines
        buf += b
        if b == b'\n':
            text = buf.decode('latin1').rstrip('\r\n')
            buf = b''
            say('S: ' + text)
            lines.append(text)
            if len(text) < 4 or text[3] != '-':
                return lines


def send(line):
    os.write(wfd, (line + '\r\n').encode('latin1'))


for k in sorted(os.environ):
    if k.startswith('SSL') or k == 'PROTO':
        say('ENV: %s=%s' % (k, os.environ[k]))
reply()
send('EHLO client.test')
reply()
ctl = int(os.environ['SSLCTLFD'])
if mode == 'exit':
    sys.exit(7)
if mode == 'close':
    os.close(ctl)
    send('QUIT')
    reply()
    sys.exit(0)
send('STARTTLS')
reply()
if mode == 'bogus':
    os.write(ctl, b'x')
    reply()
    sys.exit(0)
data = ask(ctl, mode)
if mode == 'Y':
    say('REPLY-END: %s' % ('ok' if data.endswith(b'\0\0') or data == b'\0' else repr(data[-10:])))
    for entry in data.split(b'\0'):
        if entry and not entry.startswith(b'SSL_SERVER_CERT'):
            say('REPLY: ' + entry.decode('latin1'))
rfd = int(os.environ['SSLREADFD'])
wfd = int(os.environ['SSLWRITEFD'])
send('EHLO client.test')
reply()
send('QUIT')
reply()

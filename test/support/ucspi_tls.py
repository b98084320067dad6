# The program's side of UCSPI-TLS shared by the test programs (ucspi-tls-smtpd.py under sslserver -n,
# ucspi-tls-smtp-client.py under sslclient -y): asking for TLS and reading the Y reply.
import os


def ask(ctl, request, stop_at_end=False):
    """Write `y` or `Y` on the control socket; after `Y`, the reply read to end of file (or, with
    stop_at_end, only up to its closing NUL: the C sslserver never closes the socket)."""
    os.write(ctl, request.encode())
    reply = b''
    if request != 'Y':
        return reply
    while True:
        b = os.read(ctl, 4096)
        if not b:
            return reply
        reply += b
        if stop_at_end and (reply == b'\0' or reply.endswith(b'\0\0')):
            return reply

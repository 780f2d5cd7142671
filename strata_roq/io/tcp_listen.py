"""A listening TCP socket for the project's HTTP servers (uvicorn serves on it).

Bound by us, so a port in use is an ``OSError`` for the caller (uvicorn would exit the
process from inside its task). ``TCP_NODELAY`` is set on the listener, which Linux hands on
to every accepted connection: uvicorn writes a response's head and body apart, and with
Nagle's algorithm the body waited for the client's delayed ACK, 40 ms on every answer (the
page's clock exchange, the dashboard's API calls, ``/api/rate`` for encoders).
"""

from __future__ import annotations

import socket


def listen_tcp(host: str, port: int, backlog: int = 128) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock

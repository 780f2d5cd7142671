"""The HTTP servers' listening socket: connections it accepts send without Nagle's delay."""

from __future__ import annotations

import socket

import pytest

from strata_roq.io.tcp_listen import listen_tcp


def test_accepted_connections_have_nodelay():
    listener = listen_tcp("127.0.0.1", 0)
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for s in (conn, client, listener):
            s.close()


def test_a_port_in_use_is_an_oserror():
    first = listen_tcp("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            listen_tcp("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()

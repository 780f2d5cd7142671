"""A client and a server aioquic connection wired back to back in virtual time, for the
sans-I/O RoQ sender and receiver tests."""

from __future__ import annotations

import ssl
from types import SimpleNamespace

import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from strata_roq.certs import generate_self_signed
from strata_roq.roq.framing import ALPN

CLIENT, SERVER = ("1.1.1.1", 1), ("2.2.2.2", 2)
PACKET = bytes([0x80, 33]) + bytes(1200)


def pair(tmp_path, server_max_streams_uni: int | None = None):
    cert, key = generate_self_signed()
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    common = dict(alpn_protocols=[ALPN], max_datagram_frame_size=65536)
    server_cfg = QuicConfiguration(is_client=False, **common)
    server_cfg.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    client = QuicConnection(configuration=QuicConfiguration(
        is_client=True, verify_mode=ssl.CERT_NONE, **common))
    server = QuicConnection(configuration=server_cfg,
                            original_destination_connection_id=client.original_destination_connection_id)
    if server_max_streams_uni is not None:
        limit = server._local_max_streams_uni  # noqa: SLF001 - aioquic has no setting for it
        limit.value = limit.sent = server_max_streams_uni
    client.connect(SERVER, 0.0)
    return client, server


def pump(client, server, now, events: list) -> None:
    for conn in (client, server):
        timer = conn.get_timer()
        if timer is not None and timer <= now:
            conn.handle_timer(now)
    for _ in range(20):
        moved = 0
        for data, _ in client.datagrams_to_send(now):
            server.receive_datagram(data, CLIENT, now)
            moved += 1
        for data, _ in server.datagrams_to_send(now):
            client.receive_datagram(data, SERVER, now)
            moved += 1
        for conn in (client, server):
            while (e := conn.next_event()) is not None:
                events.append((conn, e))
        if not moved:
            return



@pytest.fixture
def quic():
    return SimpleNamespace(pair=pair, pump=pump, PACKET=PACKET)

"""A path slower than aioquic's first probe timeout still starts with its round trip known:
the handshake's own duration stands in for the RTT sample aioquic does not take."""

from __future__ import annotations

import asyncio

from aioquic.asyncio import serve

from strata_roq.certs import load_or_generate
from strata_roq.io.bonded import handshake_rtt, open_path
from strata_roq.io.roq import make_configuration, receiver_protocol
from strata_roq.netsim.link import Link
from strata_roq.netsim.relay import UdpImpairmentRelay


async def _handshake(one_way: float, tmp_path) -> tuple[float, float]:
    cert, key = load_or_generate(None, None, tmp_path)
    bound = receiver_protocol(lambda *a: None, 0.5)
    config = make_configuration(False, cert=cert, key=key)
    server = await serve("127.0.0.1", 0, configuration=config, create_protocol=bound)
    port = server._transport.get_extra_info("sockname")[1]  # noqa: SLF001
    relay = UdpImpairmentRelay(("127.0.0.1", 0), ("127.0.0.1", port),
                               Link(delay=one_way), Link(delay=one_way))
    host, relay_port = await relay.start()
    proto = await open_path(host, relay_port, make_configuration(True, insecure=True))
    try:
        rtt = handshake_rtt(proto)
        # the receiver read the handshake's datagrams with the kernel's arrival stamps
        assert bound.stamps is not None and bound.stamps.stamped >= 1
        return rtt, proto.transport_rate(rtt)
    finally:
        proto.close()
        server.close()


def test_a_satellite_path_is_seeded_with_its_round_trip(tmp_path):
    rtt, rate = asyncio.run(_handshake(0.3, tmp_path))
    assert 0.6 <= rtt < 1.0
    # ten packets per round trip to begin with: far below the 250 kB/s a path is assumed
    assert 10_000 < rate < 30_000


def test_a_fast_path_uses_quic_s_own_sample(tmp_path):
    rtt, _ = asyncio.run(_handshake(0.01, tmp_path))
    assert 0.02 <= rtt < 0.2

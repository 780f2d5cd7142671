"""Abusive clients cost the gateway bounded memory and never disturb a real viewer:
garbage datagrams and connection floods on its QUIC port, garbage on a session stream,
sessions for unknown streams, a viewer that never reads."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pathlib
import socket
import ssl
import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]

_FANOUT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "fanout.py"


def _viewer_class():
    spec = importlib.util.spec_from_file_location("fanout", _FANOUT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Viewer


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_abusers_do_not_disturb_a_real_viewer(rig):
    from aioquic.asyncio.client import connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration

    Viewer = _viewer_class()
    media_port, web_port = rig.free_port(), rig.free_port()
    gw = rig.start(rig.strata("gateway", "-i", f"udp://@127.0.0.1:{media_port}", "--web",
                              f"127.0.0.1:{web_port}", "--duration", "30"), ready="gateway:")
    rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration", "25",
                         "--size", "320x180", "--bitrate", "1M", "-q"))
    time.sleep(2.0)
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, verify_mode=ssl.CERT_NONE,
                               max_datagram_frame_size=65536)

    async def scenario():
        async with connect("127.0.0.1", web_port, configuration=config,
                           create_protocol=Viewer) as good:
            good.open(web_port)
            await asyncio.sleep(1.0)
            good.counting = True
            rss0 = _rss_kb(gw.p.pid)
            # 1. A flood: 3000 garbage datagrams and 300 half-open handshakes.
            flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(3000):
                flood.sendto(os.urandom(1200 if i % 2 else 40), ("127.0.0.1", web_port))
            half_open = []
            for _ in range(300):
                ctx = connect("127.0.0.1", web_port, configuration=config,
                              create_protocol=Viewer, wait_connected=False)
                half_open.append(await ctx.__aenter__())
            # 2. Garbage on a session's CONNECT stream, and a session for an unknown stream.
            async with connect("127.0.0.1", web_port, configuration=config,
                               create_protocol=Viewer) as rude:
                sid = rude._quic.get_next_available_stream_id()
                rude._quic.send_stream_data(sid, os.urandom(5000))
                rude.transmit()
                await asyncio.sleep(0.5)
            async with connect("127.0.0.1", web_port, configuration=config,
                               create_protocol=Viewer) as lost:
                lost.h3.send_headers(lost._quic.get_next_available_stream_id(), [
                    (b":method", b"CONNECT"), (b":protocol", b"webtransport"),
                    (b":scheme", b"https"), (b":authority", b"x"), (b":path", b"/watch/nope")])
                lost.transmit()
                await asyncio.sleep(0.5)
                assert lost.status == 404
            # 3. A viewer that accepts its session and then never reads a byte.
            async with connect("127.0.0.1", web_port, configuration=config,
                               create_protocol=Viewer) as sloth:
                sloth.open(web_port)
                await asyncio.sleep(0.5)
                sloth.quic_event_received = lambda event: None        # stops reading
                sloth._transport.pause_reading()
                await asyncio.sleep(6.0)
            for proto in half_open:
                proto._transport.close()
            good.counting = False
            return good, rss0, _rss_kb(gw.p.pid)

    good, rss0, rss1 = asyncio.run(scenario())
    assert good.status == 200
    seen, on_time = good.seen, good.on_time
    assert len(seen) >= 8 * 30 * 0.9, len(seen)             # it kept receiving throughout
    assert len(on_time) >= 0.99 * len(seen), (len(on_time), len(seen))
    assert rss1 - rss0 < 150_000, (rss0, rss1)              # bounded memory (kB)
    stats = rig.last_json(gw.finish(timeout=40)[1], "gateway")
    assert stats["web"]["refused_not_found"] >= 1


def _fetch_stats(port: int) -> dict:
    import json as _json
    import urllib.request

    context = ssl._create_unverified_context()  # noqa: SLF001 - a self-signed test server
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/stats", context=context,
                                timeout=5) as r:
        return _json.loads(r.read())


def test_roq_receive_serves_browsers_too(rig):
    """Bonded contribution straight to viewers: send (RoQ) -> receive --web -> a
    WebTransport viewer gets live frames while the UDP output keeps flowing."""
    from aioquic.asyncio.client import connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration

    Viewer = _viewer_class()
    roq_port, media_port, out_port, web_port = (rig.free_port() for _ in range(4))
    collector = rig.Collector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                              f"udp://127.0.0.1:{out_port}", "--web", f"127.0.0.1:{web_port}",
                              "--duration", "14"), ready="browsers:")
    rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o",
                         f"roq://127.0.0.1:{roq_port}", "--insecure", "--duration", "12"),
              ready="send:")
    rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration", "10",
                         "--size", "320x180", "--bitrate", "1M", "-q"))
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, verify_mode=ssl.CERT_NONE,
                               max_datagram_frame_size=65536)

    async def watch():
        await asyncio.sleep(2.0)
        async with connect("127.0.0.1", web_port, configuration=config,
                           create_protocol=Viewer) as v:
            v.open(web_port)
            v.counting = True
            await asyncio.sleep(5.0)
            v.live = await asyncio.to_thread(_fetch_stats, web_port)
            return v

    v = asyncio.run(watch())
    assert v.status == 200 and len(v.seen) >= 120, len(v.seen)
    assert 1200 < v.largest <= 1350, v.largest     # packets of the web egress's 1350 bytes
    # what the dashboard plots: per path (name, bytes, RTT) and per viewer (a stable number)
    (path,) = v.live["paths"]
    assert path["name"] == "anonymous" and path["bytes"] > 100_000 and path["rtt_ms"] is not None
    assert [x["viewer"] for x in v.live["per_viewer"]] == [1]
    assert len(v.on_time) >= 0.99 * len(v.seen)
    stats = rig.last_json(rx.finish(timeout=30)[1], "receive")
    assert stats["web"]["joined"] == 1 and stats["web"]["frames"]["video"] >= 250
    assert len(collector.wait()) > 0

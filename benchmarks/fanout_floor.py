"""The least a fan-out gateway can cost on this stack: aioquic and asyncio alone.

A stand-in for ``strata-roq gateway`` that ``benchmarks/fanout.py --server floor`` starts in
its place. It takes the same testsrc feed and cuts it into the same frames (the gateway's
TS extraction, a few per cent of its time), then gives each viewer each frame on a
WebTransport stream of its own with FIN, as the gateway does — and nothing else: no
priorities, no deadlines or resets, no backlog limits, no catch-up for joiners, no tokens,
no HTTPS, no stats. What the gateway costs per viewer above this is ours to cut; what this
costs is aioquic's and asyncio's.

    .venv/bin/python benchmarks/fanout_floor.py MEDIA_PORT WEB_PORT [--mtu 1350]
                                                [--stack aioquic|qh3]

``--stack qh3``: the same on qh3, a fork of aioquic (not a dependency: ``pip install
qh3==1.9.4``). Its 2.x releases moved the packet core to native code, but with 25 viewers
2.0.4 and 2.1.0 both failed in ``datagrams_to_send`` ("packet builder capacity exhausted",
then "connection is closed") and accepted only 20-22 of the 25.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import sys
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from aioquic.buffer import encode_uint_var  # noqa: E402

from strata_roq.certs import load_or_generate  # noqa: E402
from strata_roq.io.webtransport import WEB_MTU  # noqa: E402
from strata_roq.wt.extract import FrameExtractor  # noqa: E402

STACKS = ("aioquic", "qh3")


def stack_missing(name: str) -> str | None:
    """Why the QUIC stack ``name`` cannot be used here, or None."""
    if importlib.util.find_spec(name) is None:
        return f"{name} is not installed (not a project dependency): pip install qh3==1.9.4"
    return None


def load_stack(name: str) -> SimpleNamespace:
    """The classes the floor needs, from aioquic or from qh3 (same layout, same names)."""
    mod = {part: importlib.import_module(f"{name}.{part}") for part in (
        "asyncio.protocol", "asyncio.server", "h3.connection", "h3.events",
        "quic.configuration", "quic.events")}
    return SimpleNamespace(
        QuicConnectionProtocol=mod["asyncio.protocol"].QuicConnectionProtocol,
        serve=mod["asyncio.server"].serve,
        H3_ALPN=mod["h3.connection"].H3_ALPN, H3Connection=mod["h3.connection"].H3Connection,
        StreamType=mod["h3.connection"].StreamType,
        HeadersReceived=mod["h3.events"].HeadersReceived,
        QuicConfiguration=mod["quic.configuration"].QuicConfiguration,
        ConnectionTerminated=mod["quic.events"].ConnectionTerminated)


def floor_protocol(stack: SimpleNamespace, viewers: dict):
    """A QUIC connection class of ``stack`` that answers a WebTransport CONNECT with 200 and
    enters the session in ``viewers`` (connection -> its stream prefix)."""

    class FloorProtocol(stack.QuicConnectionProtocol):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.h3 = stack.H3Connection(self._quic, enable_webtransport=True)

        def quic_event_received(self, event) -> None:
            if isinstance(event, stack.ConnectionTerminated):
                viewers.pop(self, None)
                return
            for e in self.h3.handle_event(event):
                if isinstance(e, stack.HeadersReceived) and \
                        dict(e.headers).get(b":method") == b"CONNECT":
                    self.h3.send_headers(e.stream_id, [
                        (b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")])
                    viewers[self] = encode_uint_var(stack.StreamType.WEBTRANSPORT) + \
                        encode_uint_var(e.stream_id)
                    self.transmit()

        def send_frames(self, prefix: bytes, encoded: list[bytes]) -> None:
            quic = self._quic
            for data in encoded:
                sid = quic.get_next_available_stream_id(is_unidirectional=True)
                quic.send_stream_data(sid, prefix + data, end_stream=True)
            self.transmit()

    return FloorProtocol


class Feed(asyncio.DatagramProtocol):
    """The testsrc feed: each datagram's completed frames, to every viewer."""

    def __init__(self, viewers: dict) -> None:
        self.viewers = viewers
        self.extractor = FrameExtractor()
        self.loop = asyncio.get_event_loop()

    def datagram_received(self, data, addr) -> None:
        frames = self.extractor.feed(data, self.loop.time())
        if not frames:
            return
        encoded = [f.encode() for f in frames]
        for proto, prefix in list(self.viewers.items()):
            proto.send_frames(prefix, encoded)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("media_port", type=int)
    ap.add_argument("web_port", type=int)
    ap.add_argument("--mtu", type=int, default=WEB_MTU)
    ap.add_argument("--stack", choices=STACKS, default="aioquic")
    args = ap.parse_args()
    if (why := stack_missing(args.stack)) is not None:
        ap.error(why)
    stack = load_stack(args.stack)
    viewers: dict = {}
    cert, key = load_or_generate(None, None)
    config = stack.QuicConfiguration(is_client=False, alpn_protocols=stack.H3_ALPN,
                                     max_datagram_frame_size=65536, idle_timeout=15.0,
                                     max_datagram_size=args.mtu)
    config.load_cert_chain(cert, key)
    await stack.serve("127.0.0.1", args.web_port, configuration=config,
                      create_protocol=floor_protocol(stack, viewers))
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Feed(viewers),
                                        local_addr=("127.0.0.1", args.media_port))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())

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
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

if "--stack" in sys.argv and sys.argv[sys.argv.index("--stack") + 1] == "qh3":
    try:
        import qh3  # noqa: F401
    except ImportError:
        sys.exit("fanout_floor: --stack qh3 needs qh3, which is not a dependency of the project: "
                 "pip install qh3==1.9.4 (2.0.4 and 2.1.0 failed here, below)")
    from qh3.asyncio.protocol import QuicConnectionProtocol  # noqa: E402
    from qh3.asyncio.server import serve  # noqa: E402
    from qh3.h3.connection import H3_ALPN, H3Connection, StreamType  # noqa: E402
    from qh3.h3.events import HeadersReceived  # noqa: E402
    from qh3.quic.configuration import QuicConfiguration  # noqa: E402
    from qh3.quic.events import ConnectionTerminated  # noqa: E402
else:
    from aioquic.asyncio.protocol import QuicConnectionProtocol  # noqa: E402
    from aioquic.asyncio.server import serve  # noqa: E402
    from aioquic.h3.connection import H3_ALPN, H3Connection, StreamType  # noqa: E402
    from aioquic.h3.events import HeadersReceived  # noqa: E402
    from aioquic.quic.configuration import QuicConfiguration  # noqa: E402
    from aioquic.quic.events import ConnectionTerminated  # noqa: E402
from aioquic.buffer import encode_uint_var  # noqa: E402

from strata_roq.certs import generate_self_signed  # noqa: E402
from strata_roq.io.webtransport import WEB_MTU  # noqa: E402
from strata_roq.wt.extract import FrameExtractor  # noqa: E402

VIEWERS: dict["FloorProtocol", bytes] = {}       # connection -> its stream prefix


class FloorProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic, enable_webtransport=True)

    def quic_event_received(self, event) -> None:
        if isinstance(event, ConnectionTerminated):
            VIEWERS.pop(self, None)
            return
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived) and dict(e.headers).get(b":method") == b"CONNECT":
                self.h3.send_headers(e.stream_id, [(b":status", b"200"),
                                                   (b"sec-webtransport-http3-draft", b"draft02")])
                VIEWERS[self] = encode_uint_var(StreamType.WEBTRANSPORT) + \
                    encode_uint_var(e.stream_id)
                self.transmit()

    def send_frames(self, prefix: bytes, encoded: list[bytes]) -> None:
        quic = self._quic
        for data in encoded:
            sid = quic.get_next_available_stream_id(is_unidirectional=True)
            quic.send_stream_data(sid, prefix + data, end_stream=True)
        self.transmit()


class Feed(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.extractor = FrameExtractor()
        self.loop = asyncio.get_event_loop()

    def datagram_received(self, data, addr) -> None:
        frames = self.extractor.feed(data, self.loop.time())
        if not frames:
            return
        encoded = [f.encode() for f in frames]
        for proto, prefix in list(VIEWERS.items()):
            proto.send_frames(prefix, encoded)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("media_port", type=int)
    ap.add_argument("web_port", type=int)
    ap.add_argument("--mtu", type=int, default=WEB_MTU)
    ap.add_argument("--stack", choices=("aioquic", "qh3"), default="aioquic")
    args = ap.parse_args()
    cert, key = self_signed_files()
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN,
                               max_datagram_frame_size=65536, idle_timeout=15.0,
                               max_datagram_size=args.mtu)
    config.load_cert_chain(cert, key)
    await serve("127.0.0.1", args.web_port, configuration=config, create_protocol=FloorProtocol)
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Feed, local_addr=("127.0.0.1", args.media_port))
    await asyncio.Event().wait()


def self_signed_files() -> tuple[str, str]:
    import tempfile

    d = tempfile.mkdtemp(prefix="fanout-floor-")
    paths = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    for path, pem in zip(paths, generate_self_signed()):
        with open(path, "wb") as f:
            f.write(pem)
    return paths


if __name__ == "__main__":
    asyncio.run(main())

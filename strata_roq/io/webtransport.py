"""asyncio adapter for browsers: a WebTransport server (aioquic HTTP/3) for the frames, and
an HTTPS server (starlette + uvicorn, same certificate, same port number over TCP) for the
player page, the dashboard, ``/api/info``, ``/api/stats`` and Prometheus ``/metrics``.

A viewer opens ``https://HOST:PORT/watch/STREAM?token=…`` as an extended CONNECT
(``:protocol webtransport``; ``&mode=datagram`` asks for frames as datagrams instead of
streams); the token is checked before the session is accepted — a refusal is an HTTP 403
answer, never a hang. Self-signed certificates (ECDSA P-256, valid < 14 days, what
``serverCertificateHashes`` requires) are renewed before they expire; new
connections get the new one, live viewers keep theirs.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from urllib.parse import parse_qs, urlsplit

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamDataReceived, StreamReset

from strata_roq.roq.pending import may_send
from strata_roq.wt.viewer import ViewerSession

log = logging.getLogger(__name__)
WEB_ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "web"))


class WebTransportProtocol(QuicConnectionProtocol):
    """One QUIC connection from a browser: HTTP/3 with WebTransport sessions."""

    server: "WebServer"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic, enable_webtransport=True)
        self.sessions: set[int] = set()

    def datagram_received(self, data, addr) -> None:
        """As aioquic's, but on a batching transport (:mod:`strata_roq.io.quic_udp`) the
        send waits for the end of the read batch (one pass for all of this viewer's ACKs in
        it), and an ACK-only packet that leaves nothing to send builds no packets: only the
        timer is re-armed (its loss-detection time moved)."""
        self._quic.receive_datagram(data, addr, now=self._loop.time())
        self._process_events()
        defer = getattr(self._transport, "defer", None)
        if defer is not None:
            defer(self)
        else:
            self.flush_received()

    def flush_received(self) -> None:
        """Send what the datagrams received call for, or only re-arm the timer."""
        if may_send(self._quic):
            self.transmit()
        else:
            self._rearm_timer()

    def _rearm_timer(self) -> None:
        """The timer half of transmit(): an ACK moves the loss-detection time."""
        at = self._quic.get_timer()
        if at == self._timer_at and (self._timer is not None or at is None):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if at is None else self._loop.call_at(at, self._handle_timer)
        self._timer_at = at

    def quic_event_received(self, event) -> None:
        if isinstance(event, ConnectionTerminated):
            for sid in self.sessions:
                self.server.gateway.remove_viewer((self, sid))
            self.sessions.clear()
            return
        if isinstance(event, StreamReset) and event.stream_id in self.sessions:
            self._end_session(event.stream_id)
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self._on_headers(h3_event)
        if isinstance(event, StreamDataReceived) and event.end_stream \
                and event.stream_id in self.sessions:
            self._end_session(event.stream_id)    # the page closed the session

    def _on_headers(self, event: HeadersReceived) -> None:
        headers = dict(event.headers)
        method, protocol = headers.get(b":method"), headers.get(b":protocol")
        path = headers.get(b":path", b"/").decode("utf-8", "replace")
        sid = event.stream_id
        if method != b"CONNECT" or protocol != b"webtransport":
            self._answer(sid, 404)
            return
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "watch" or parts[1] != self.server.stream:
            self.server.counters["refused_not_found"] += 1
            self._answer(sid, 404)
            return
        query = parse_qs(url.query)
        token = query.get("token", [None])[0]
        why = self.server.auth.check(parts[1], token, time.time())
        if why is not None:
            self.server.counters["refused_token"] += 1
            log.info("viewer refused: %s", why)
            self._answer(sid, 403)
            return
        self.h3.send_headers(sid, [(b":status", b"200"),
                                   (b"sec-webtransport-http3-draft", b"draft02")])
        self.sessions.add(sid)
        viewer = ViewerSession(self.h3, self._quic, sid, max_backlog=self.server.max_backlog,
                               datagram=query.get("mode", [""])[0] == "datagram")
        self.server.gateway.add_viewer((self, sid), viewer, time.monotonic())
        self.server.counters["accepted"] += 1
        self.transmit()

    def _answer(self, sid: int, status: int) -> None:
        self.h3.send_headers(sid, [(b":status", str(status).encode())], end_stream=True)
        self.transmit()

    def _end_session(self, sid: int) -> None:
        self.sessions.discard(sid)
        self.server.gateway.remove_viewer((self, sid))


#: Largest UDP payload sent to viewers. aioquic does no path-MTU discovery, so it must fit
#: every path a viewer may be on: 150 bytes under a 1500-byte MTU leave room for IPv6 and a
#: tunnel or PPPoE. The protocol's minimum, 1200, makes 12 % more packets, and the gateway's
#: time per viewer goes mostly per packet (benchmarks/fanout.py --mtu 1200 against 1350,
#: five interleaved pairs at 25 viewers: median 11 % more CPU per viewer).
WEB_MTU = 1350


class WebServer:
    """Owns the QUIC (WebTransport) and TCP (HTTPS) listeners and the certificate."""

    def __init__(self, gateway, host: str, port: int, *, stream: str, auth, certs,
                 extra_stats=None, max_backlog: int = 2_000_000, mtu: int = WEB_MTU) -> None:
        from collections import Counter

        self.gateway = gateway
        self.host, self.port = host, port
        self.stream = stream
        self.auth = auth
        self.certs = certs            # CertificateKeeper
        self.extra_stats = extra_stats or (lambda: {})
        self.max_backlog = max_backlog
        self.counters: Counter[str] = Counter()
        self._quic_server = None
        self._udp = None              # the QUIC socket's BatchTransport
        self._http = None
        self._tasks: list[asyncio.Task] = []
        self.config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN,
                                        max_datagram_frame_size=65536, idle_timeout=15.0,
                                        max_datagram_size=mtu)
        self.config.load_cert_chain(certs.cert_path, certs.key_path)

    async def start(self) -> None:
        from functools import partial

        from aioquic.asyncio.server import QuicServer

        from strata_roq.errors import UsageError
        from strata_roq.io.quic_udp import serve_batched

        protocol = type("BoundWebTransportProtocol", (WebTransportProtocol,), {"server": self})
        try:
            self._quic_server, self._udp = await serve_batched(
                self.host, self.port, partial(QuicServer, configuration=self.config,
                                              create_protocol=protocol),
                name=f"webtransport {self.host}:{self.port}")
        except UsageError as exc:         # the port is taken: the caller's one-line error
            raise OSError(str(exc)) from None
        self._http = await self._start_https()
        self._tasks.append(asyncio.ensure_future(self._expire_loop()))
        if self.certs.renewable:
            self._tasks.append(asyncio.ensure_future(self._renew_loop()))

    async def _start_https(self):
        import uvicorn

        from strata_roq.io.tcp_listen import listen_tcp
        from strata_roq.io.web_app import make_app

        try:
            sock = listen_tcp(self.host, self.port)
        except OSError as exc:
            raise OSError(f"the HTTPS server could not listen on {self.host}:{self.port}: "
                          f"{exc.strerror or exc}") from None
        config = uvicorn.Config(make_app(self), ssl_certfile=self.certs.cert_path,
                                ssl_keyfile=self.certs.key_path, log_level="warning",
                                timeout_graceful_shutdown=1,
                                lifespan="off")
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None   # the command owns SIGINT/SIGTERM
        self._tasks.append(asyncio.ensure_future(server.serve(sockets=[sock])))
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise OSError(f"the HTTPS server could not listen on {self.host}:{self.port}")
        return server

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            for viewer in self.gateway.expire(time.monotonic()):
                self._transmit(viewer)

    def _transmit(self, viewer: ViewerSession) -> None:
        for key in self.gateway.viewers:
            if self.gateway.viewers[key] is viewer:
                key[0].transmit()
                return

    def transmit_all(self, viewers) -> None:
        done = set()
        for key, viewer in self.gateway.viewers.items():
            proto = key[0]
            if viewer in viewers and id(proto) not in done:
                done.add(id(proto))
                proto.transmit()

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.certs.check_interval)
            if self.certs.due():
                self.certs.renew()
                self.config.load_cert_chain(self.certs.cert_path, self.certs.key_path)
                if self._http is not None and self._http.config.ssl is not None:
                    self._http.config.ssl.load_cert_chain(self.certs.cert_path,
                                                          self.certs.key_path)
                self.counters["certificate_renewals"] += 1
                log.warning("certificate renewed (sha256 %s), valid until %s",
                            self.certs.sha256_hex, self.certs.not_after.isoformat())

    def info(self) -> dict:
        return {"stream": self.stream, "port": self.port, "cert_sha256": self.certs.sha256_hex,
                "cert_not_after": self.certs.not_after.isoformat(),
                "token_required": not self.auth.open,
                **self.gateway.info()}

    def stats(self) -> dict:
        udp = {} if self._udp is None else {"web_udp": self._udp.stats()}
        return {**self.gateway.stats(), "web": dict(self.counters), **udp, **self.extra_stats()}

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._http is not None:
            self._http.should_exit = True
        if self._quic_server is not None:
            self._quic_server.close()


class CertificateKeeper:
    """The certificate in use: the user's own (never touched) or a self-signed one that is
    renewed ``renew_before`` ahead of its expiry."""

    def __init__(self, cert: str | None, key: str | None, directory: str, *,
                 lifetime: datetime.timedelta = datetime.timedelta(days=10),
                 renew_before: datetime.timedelta = datetime.timedelta(days=2),
                 check_interval: float = 60.0) -> None:
        from strata_roq.certs import load_or_generate

        self.renewable = not (cert or key)
        self.directory = directory
        self.lifetime, self.renew_before = lifetime, renew_before
        self.check_interval = check_interval
        if self.renewable:
            self.renew()
        else:
            self.cert_path, self.key_path = load_or_generate(cert, key)
            self._read()

    def renew(self) -> None:
        from strata_roq.certs import generate_self_signed

        cert_pem, key_pem = generate_self_signed(lifetime=self.lifetime)
        stamp = time.strftime("%Y%m%d%H%M%S") + f"-{time.monotonic_ns() % 10**6}"
        self.cert_path = os.path.join(self.directory, f"cert-{stamp}.pem")
        self.key_path = os.path.join(self.directory, f"key-{stamp}.pem")
        with open(self.key_path, "wb") as f:
            os.chmod(self.key_path, 0o600)
            f.write(key_pem)
        with open(self.cert_path, "wb") as f:
            f.write(cert_pem)
        self._read()

    def _read(self) -> None:
        from cryptography import x509

        from strata_roq.certs import certificate_sha256

        with open(self.cert_path, "rb") as f:
            pem = f.read()
        self.sha256_hex = certificate_sha256(pem).hex()
        self.not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc

    def due(self) -> bool:
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.not_after - now <= self.renew_before

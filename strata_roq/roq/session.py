"""Joining several RoQ connections into one bonded session, and keeping strangers out.

aioquic has no multipath QUIC, so a bonded sender opens one ordinary RoQ connection per
path. The receiver must know which connections belong together: each path announces the
sender's **session token** (16 random bytes, the same on every path) and its path name in
an RTCP APP packet (name ``STRA``, subtype 0) on the flow's RTCP stream — RoQ's own control
channel (draft §5.4); a receiver that does not know the packet ignores it, as RFC 3550 asks.

:class:`SessionGate` then decides, per packet, whether a connection's media may reach the
single output: the connections of the *current* session may; another session takes over
only once the current one has been silent for ``takeover_after`` (a sender that restarted
gets its stream back at once, two live senders do not interleave two streams into one
output). Connections without a token (plain RoQ peers) form one anonymous session, which
the first token announced adopts. A new connection's media may overtake its join on the
wire (they travel on different QUIC streams), so a connection is given ``join_grace``
before it counts as anonymous.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from strata_roq.rtp import rtcp

APP_NAME = b"STRA"
JOIN_SUBTYPE = 0
TOKEN_BYTES = 16


def new_token() -> bytes:
    return os.urandom(TOKEN_BYTES)


def build_join(ssrc: int, token: bytes, path: str) -> bytes:
    """The APP packet a path sends first on its RTCP stream."""
    name = path.encode("utf-8")[:255]
    data = token + bytes([len(name)]) + name
    data += b"\0" * (-len(data) % 4)
    return rtcp.App(JOIN_SUBTYPE, ssrc, APP_NAME, data).build()


def parse_join(packet) -> tuple[bytes, str] | None:
    """(token, path name) if ``packet`` (a parsed RTCP packet) is a session join."""
    if not isinstance(packet, rtcp.App) or packet.name != APP_NAME \
            or packet.subtype != JOIN_SUBTYPE:
        return None
    data = bytes(packet.data)
    if len(data) < TOKEN_BYTES + 1:
        return None
    n = data[TOKEN_BYTES]
    name = data[TOKEN_BYTES + 1:TOKEN_BYTES + 1 + n]
    if len(name) != n:
        return None
    return data[:TOKEN_BYTES], name.decode("utf-8", "replace")


@dataclass
class SessionGate:
    """Which connection's media reaches the output (sans-I/O: connections are any hashable
    key, time is passed in)."""

    takeover_after: float = 1.0
    join_grace: float = 0.5
    current: bytes | None = None          # token of the current session (None: anonymous)
    last_media: float | None = None
    tokens: dict = field(default_factory=dict)     # connection -> token
    names: dict = field(default_factory=dict)      # connection -> path name
    first_seen: dict = field(default_factory=dict)  # connection -> time of its first packet
    switches: int = 0
    refused: int = 0                      # packets of another session, dropped
    refused_connections: set = field(default_factory=set)
    joined: dict = field(default_factory=dict)     # token -> names of paths that joined it

    def join(self, conn, token: bytes, name: str, now: float) -> bool:
        """A connection announced its session. False when it belongs to another session
        that cannot take over yet (the caller may close it)."""
        self.tokens[conn] = token
        self.names[conn] = name
        names = self.joined.setdefault(token, [])
        if name not in names:
            names.append(name)
        if token == self.current:
            return True
        if self.current is None:
            # Adopt: the anonymous media so far was most likely this session's own.
            self.current = token
            return True
        return self._may_take_over(now)

    def admit(self, conn, now: float) -> bool:
        """May a media packet from ``conn`` go to the output?"""
        token = self.tokens.get(conn)
        if token is None and self.current is not None \
                and now - self.first_seen.setdefault(conn, now) < self.join_grace:
            token = self.current               # its join is probably still on the way
        if token != self.current:
            if not self._may_take_over(now):
                self.refused += 1
                self.refused_connections.add(conn)
                return False
            self.current = token
            self.switches += 1
        self.last_media = now
        return True

    def _may_take_over(self, now: float) -> bool:
        return self.last_media is None or now - self.last_media > self.takeover_after

    def forget(self, conn) -> None:
        token = self.tokens.pop(conn, None)
        if token is not None and token != self.current \
                and token not in self.tokens.values():
            self.joined.pop(token, None)       # a refused session left no trace to keep
        self.names.pop(conn, None)
        self.first_seen.pop(conn, None)
        self.refused_connections.discard(conn)

    def stats(self) -> dict:
        live = sum(1 for t in self.tokens.values() if t == self.current)
        return {"token": self.current.hex() if self.current else None,
                "paths": self.joined.get(self.current, []), "connected": live,
                "switches": self.switches, "refused_packets": self.refused,
                "connections": len(self.tokens)}

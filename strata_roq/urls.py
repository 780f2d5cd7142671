"""Endpoint URLs, read the way librist and ffmpeg users write them.

``scheme://[@][host]:port[?name=value&...]`` where ``@`` means *listen* (bind) and no ``@``
means *connect* (send to). Schemes: ``udp`` (raw datagrams, e.g. 7x188-byte TS), ``rtp``
(RTP, e.g. RTP/MP2T), ``rist`` (TR-06-1/2), ``roq`` (RTP over QUIC). Several URLs may be
joined with commas (``rist://a:6000,rist://b:6002?weight=3``): each names one peer/path.

Every scheme has a fixed set of parameter names; an unknown name is an error, as in librist,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from strata_roq.errors import UsageError

#: Parameter names each scheme accepts. Modules that implement a scheme may add to these.
SCHEME_PARAMS: dict[str, set[str]] = {
    "udp": {"localaddr", "ttl", "pkt_size", "buffer_size", "dev"},
    "rtp": {"localaddr", "ttl", "pkt_size", "buffer_size", "dev", "pt", "ssrc"},
    "rist": {
        "buffer", "buffer-min", "buffer-max", "rtt-min", "rtt-max", "bandwidth",
        "return-bandwidth", "reorder-buffer", "cname", "virt-dst-port", "secret",
        "aes-type", "key-rotation", "session-timeout", "keepalive-interval",
        "min-retries", "max-retries", "weight", "profile", "congestion-control",
        "timing-mode", "verbose-level", "stream-id", "miface", "bonding-mode", "nack-type",
        "fec", "fec-block",
    },
    "roq": {
        "mode", "cert", "key", "alpn", "flow", "bind", "dev", "name", "insecure",
        "latency", "weight", "token", "keylog", "datagram", "flow-id",
    },
}

_URL_RE = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<listen>@)?"
    r"(?P<host>\[[0-9a-fA-F:.]+\]|[^:/?#@\[\]]*)"
    r"(?::(?P<port>[^/?#]*))?/?(?:\?(?P<query>[^#]*))?$"
)
_SPLIT_RE = re.compile(r",(?=[a-z][a-z0-9+.-]*://)")


@dataclass(frozen=True)
class Endpoint:
    """One parsed endpoint URL."""

    scheme: str
    host: str
    port: int
    listen: bool
    params: dict[str, str] = field(default_factory=dict)
    url: str = ""

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) for a socket; an empty listen host binds all IPv4 interfaces."""
        host = self.host or ("0.0.0.0" if self.listen else "127.0.0.1")
        return host, self.port

    def get_str(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def get_int(self, name: str, default: int | None = None, *, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw, 0)
        except ValueError:
            raise UsageError(f"{self.url}: parameter '{name}' must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            raise UsageError(
                f"{self.url}: parameter '{name}'={value} is outside {minimum}..{maximum}")
        return value

    def get_float(self, name: str, default: float | None = None) -> float | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"{self.url}: parameter '{name}' must be a number, got {raw!r}") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on", ""):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{self.url}: parameter '{name}' must be true/false, got {raw!r}")

    def get_choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.params.get(name, default)
        if raw not in choices:
            raise UsageError(
                f"{self.url}: parameter '{name}' must be one of {', '.join(choices)}, got {raw!r}")
        return raw


def parse_endpoint(url: str, schemes: tuple[str, ...] | None = None) -> Endpoint:
    """Parse one endpoint URL; raise :class:`UsageError` naming what is wrong."""
    text = url.strip()
    match = _URL_RE.match(text)
    if not match:
        raise UsageError(f"not an endpoint URL: {url!r} (expected scheme://[@][host]:port[?k=v])")
    scheme = match["scheme"]
    if scheme not in SCHEME_PARAMS:
        raise UsageError(
            f"unknown scheme '{scheme}://' in {url!r} (known: "
            f"{', '.join(s + '://' for s in SCHEME_PARAMS)})")
    if schemes is not None and scheme not in schemes:
        raise UsageError(
            f"'{scheme}://' is not accepted here (use {', '.join(s + '://' for s in schemes)})")
    host = match["host"] or ""
    if host.startswith("["):
        host = host[1:-1]
    listen = bool(match["listen"])
    if not host and not listen:
        raise UsageError(f"{url!r} has no host: write {scheme}://HOST:PORT, or {scheme}://@:PORT to listen")
    port_text = match["port"]
    if not port_text:
        raise UsageError(f"{url!r} has no port")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"{url!r}: port {port_text!r} is not a number from 0 to 65535")
    port = int(port_text)
    if port == 0 and not listen:
        raise UsageError(f"{url!r}: port 0 is only allowed when listening (@)")
    params: dict[str, str] = {}
    if match["query"]:
        for name, value in parse_qsl(match["query"], keep_blank_values=True):
            if name not in SCHEME_PARAMS[scheme]:
                raise UsageError(
                    f"unknown parameter '{name}' for {scheme}:// in {url!r} (known: "
                    f"{', '.join(sorted(SCHEME_PARAMS[scheme]))})")
            params[name] = unquote(value)
    return Endpoint(scheme, host, port, listen, params, text)


def parse_endpoints(text: str, schemes: tuple[str, ...] | None = None) -> list[Endpoint]:
    """Parse one URL or several joined by commas (one per peer/path)."""
    parts = [p for p in _SPLIT_RE.split(text.strip()) if p]
    if not parts:
        raise UsageError("empty endpoint URL")
    return [parse_endpoint(p, schemes) for p in parts]


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; an empty host means every address) for a listening
    option; a UsageError naming ``what`` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{what}: {text!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)

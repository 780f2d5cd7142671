"""Who may watch: checked before a WebTransport session is accepted (a refusal is HTTP 403,
never a hang).

Two kinds of viewer token, either or both:
- a shared token (``--token T``): the page passes ``?token=T``;
- signed, expiring tokens (``--token-secret S``): ``EXPIRY.SIGNATURE`` where EXPIRY is Unix
  seconds and SIGNATURE the first 32 hex digits of HMAC-SHA256(S, "STREAM:EXPIRY"), minted by
  ``strata-roq token`` (or any backend that knows S) — a link that stops working by itself.
With neither configured, everyone may watch.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, stream: str, expiry: int) -> str:
    mac = hmac.new(secret.encode(), f"{stream}:{expiry}".encode(), hashlib.sha256)
    return f"{expiry}.{mac.hexdigest()[:32]}"


class ViewerAuth:
    def __init__(self, token: str | None = None, secret: str | None = None) -> None:
        self.token = token
        self.secret = secret

    @property
    def open(self) -> bool:
        return self.token is None and self.secret is None

    def check(self, stream: str, presented: str | None, now: float) -> str | None:
        """None when ``presented`` lets the viewer watch ``stream``; else why not."""
        if self.open:
            return None
        if not presented:
            return "a token is required"
        if self.token is not None and hmac.compare_digest(presented, self.token):
            return None
        if self.secret is not None and "." in presented:
            expiry_text, _, _ = presented.partition(".")
            try:
                expiry = int(expiry_text)
            except ValueError:
                return "malformed token"
            if hmac.compare_digest(presented, sign(self.secret, stream, expiry)):
                return None if expiry > now else "token expired"
        return "wrong token"

"""What the bonded-driver tests put in place of a path's RoqSenderProtocol."""

from __future__ import annotations

import pytest


class _Never:
    def is_set(self) -> bool:
        return False


class FakeConnection:
    """Records what the driver hands a path's connection, with RoQ's rule that a frame's
    packets after its FIN are dropped (counted), as RoqSender does."""

    def __init__(self) -> None:
        self.roq = self
        self._closed = _Never()
        self.sent: list[tuple[int, int | None]] = []     # (RTP seq, frame index or None)
        self.ended: set[int] = set()
        self.dropped = self.repairs = self.pings = self.transmits = 0

    @property
    def packets(self) -> int:
        return len(self.sent)

    def send(self, data, frame, now) -> bool:
        if frame is not None and frame.index in self.ended:
            self.dropped += 1
            return False
        self.sent.append(((data[2] << 8) | data[3], None if frame is None else frame.index))
        return True

    def send_redundancy(self, data) -> bool:
        self.repairs += 1
        return True

    def end_frame(self, frame) -> None:
        self.ended.add(frame.index)

    def transmit(self) -> None:
        self.transmits += 1

    def keep_alive(self) -> None:
        self.pings += 1

    def transport_rate(self, rtt) -> None:
        return None                             # unknown: the estimates alone decide


@pytest.fixture
def connection():
    """Makes FakeConnection objects."""
    return FakeConnection

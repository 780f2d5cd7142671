"""A ceiling on aioquic's congestion window, so a sender can keep media back at a capacity
fall.

Live media is application-limited, so QUIC's loss-based window has grown far past what the
path holds: when the capacity falls, everything the encoder sends before it hears goes
straight into the bottleneck's queue, overflows it, and the resends of what it dropped
meet the same full queue. Capped at what the path now serves × (min RTT + a short queue),
the excess waits in the sender instead — no loss, and the bottleneck's queue stays short,
so what must be resent is resent through a short queue.

aioquic has no such knob. :func:`set_window_cap` puts the connection's congestion
controller (Reno by default, any of aioquic's) into a subclass whose window is the
controller's own, lowered to the cap while one is set. The controller keeps evolving its
own window underneath (growth on ACKs, cuts on loss), so lifting the cap hands back exactly
what it would have had. Reads aioquic internals (checked against 1.7), like
:mod:`strata_roq.roq.priority`. :class:`FallHold` decides when to cap.
"""

from __future__ import annotations

from aioquic.quic.congestion.base import QuicCongestionControl
from aioquic.quic.connection import QuicConnection

#: The controller's methods that may change its window.
_WINDOW_METHODS = ("on_packet_acked", "on_packet_sent", "on_packets_expired",
                   "on_packets_lost", "on_persistent_congestion", "on_rtt_measurement")


class _CappedWindow:
    """Mixed in before the controller's class: runs each of its methods on its own window,
    then exposes that window lowered to ``window_cap``."""

    window_cap: int | None = None
    own_window: int = 0
    plain_class: type = QuicCongestionControl      # the controller's own class

    def _expose(self) -> None:
        cap = self.window_cap
        own = self.own_window
        self.congestion_window = own if cap is None or cap >= own else cap


def _wrap(name: str):
    def method(self, *args, **kwargs):
        self.congestion_window = self.own_window
        result = getattr(super(_CappedWindow, self), name)(*args, **kwargs)
        self.own_window = self.congestion_window
        self._expose()
        return result
    method.__name__ = name
    return method


for _name in _WINDOW_METHODS:
    setattr(_CappedWindow, _name, _wrap(_name))

_capped: dict[type, type] = {}


#: The smallest cap (bytes): two full packets, so the connection never stalls on it.
MIN_CAP = 3000


def set_window_cap(quic: QuicConnection, cap: int | None) -> None:
    """Hold ``quic``'s congestion window at or under ``cap`` bytes (at least MIN_CAP); None
    lifts the cap and gives the connection back its own controller."""
    loss = quic._loss  # noqa: SLF001 - no public congestion API
    cc: QuicCongestionControl = loss._cc  # noqa: SLF001
    if cap is None:
        if not isinstance(cc, _CappedWindow):
            return
        # Back to the plain controller, its own window exposed (no wrapper per packet).
        plain = object.__new__(cc.plain_class)
        plain.__dict__.update(cc.__dict__)
        del plain.own_window, plain.window_cap
        plain.congestion_window = cc.own_window
        loss._cc = cc = plain  # noqa: SLF001
    else:
        if not isinstance(cc, _CappedWindow):
            cls = type(cc)
            if cls not in _capped:
                _capped[cls] = type("Capped" + cls.__name__, (_CappedWindow, cls),
                                    {"plain_class": cls})
            # The same state in the capped class (its layout forbids a __class__ swap).
            capped = object.__new__(_capped[cls])
            capped.__dict__.update(cc.__dict__)
            capped.own_window = cc.congestion_window
            loss._cc = cc = capped  # noqa: SLF001
        cc.window_cap = max(int(cap), MIN_CAP)
        cc._expose()
    if loss._rtt_initialized:  # noqa: SLF001 - the pacer follows the window at once
        loss._pacer.update_rate(congestion_window=cc.congestion_window,  # noqa: SLF001
                                smoothed_rtt=loss._rtt_smoothed)  # noqa: SLF001


def window_cap(quic: QuicConnection) -> int | None:
    """The cap :func:`set_window_cap` set (None: none)."""
    return getattr(quic._loss._cc, "window_cap", None)  # noqa: SLF001


#: The bottleneck queue a capped path may keep (s): short, so what must be resent gets
#: through soon; the rest of the excess waits in the sender.
FALL_QUEUE = 0.05
#: A hold ends this long (s) after the last report that showed a fall, whatever waits.
MAX_HOLD = 2.0
#: The cap grows by this factor for each report whose packets found the path's queue empty.
REOPEN = 1.25


class FallHold:
    """When to cap, and where: from a capacity fall (seen in a feedback report) until the
    excess it caught has left — nothing waits behind the window and less than the cap is
    in flight — or MAX_HOLD after the last fall seen. A fall wrongly seen in a path's
    jitter thus costs one report's worth of holding at most, where the window binds at
    all. While the path's queue is empty (its rate was measured low, or the capacity came
    back: the cap, not the path, holds the media) the cap grows by REOPEN a report, so an
    encoder climbing past it cannot keep it for ever. Sans-I/O."""

    def __init__(self, queue: float = FALL_QUEUE) -> None:
        self.queue = queue
        self.cap: int | None = None
        self.holds = 0                   # falls that started a hold
        self._fell_at = 0.0

    def on_report(self, now: float, fell_bps: float | None, min_rtt: float, in_flight: int,
                  waiting: int, drained: bool) -> int | None:
        """``fell_bps``: the rate the path served if this report showed a fall, else None;
        ``min_rtt`` (s); bytes ``in_flight`` and ``waiting`` to be sent; ``drained``: a
        packet of the report came through an empty queue. The cap (bytes), or None."""
        if fell_bps is not None and min_rtt < float("inf"):
            if self.cap is None:
                self.holds += 1
            self.cap = max(MIN_CAP, int(fell_bps / 8 * (min_rtt + self.queue)))
            self._fell_at = now
        elif self.cap is not None:
            if (not waiting and in_flight < self.cap) or now - self._fell_at > MAX_HOLD:
                self.cap = None
            elif drained:
                # The path's queue has gone: it serves more than the cap lets through (its
                # rate was measured low, or the capacity came back). Open up, not all at
                # once: what waits here would overflow it again.
                self.cap = int(self.cap * REOPEN)
        return self.cap

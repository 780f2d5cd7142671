"""RTCP over RoQ (draft §5.4, §10): what still needs RTCP when QUIC carries the media.

QUIC already tells the sender RTT, loss and what was acknowledged, so the draft lets RoQ
drop most receiver reports; the sender reads those from the connection
(:func:`transport_stats`). What QUIC cannot tell is *when each RTP packet arrived*: RFC 8888
congestion-control feedback (CCFB) carries that, for delay-based rate control — the receiver
sends it every ``interval`` (:class:`CcfbFeedback`). The sender still sends Sender Reports,
which map RTP time to wall-clock time for lip sync (:class:`SenderReports`). RTCP rides the
RTP flow's id (rtcp-mux) on one long unidirectional stream per direction, or in DATAGRAMs
(:class:`RtcpChannel`).
"""

from __future__ import annotations

from aioquic.quic.connection import QuicConnection

from strata_roq.roq.framing import encode_datagram, encode_stream_record, encode_varint
from strata_roq.rtp import rtcp
from strata_roq.rtp.ntp import ntp_from_seconds

#: CCFB reports at most this many packets per SSRC (RFC 8888 allows 16384).
MAX_REPORTED = 4096
# How often a receiver reports arrivals (CCFB): every quarter round trip, at least every
# 100 ms, at most every 25 ms on a bonded session's paths and every 50 ms on a single path.
# A bonded sender learns of a loss only from these reports (every 100 ms made a lost key-
# frame packet's repair start too late for a 500 ms budget). A single path's rate loop sees
# a capacity fall only through them: at 100 ms, media 50 % above a path that had just
# narrowed filled its 200 ms queue before the sender knew (the queue overflowed, frames
# behind the losses missed their deadline); at 25 ms the encoder loop around a 600 ms
# outage broke pictures beside two CPU hogs (3 runs in 4, against 0 at 50 or 100 ms). A
# 600 ms satellite gains nothing from more than one per 100 ms. The simulator reports every
# 20 ms.
CCFB_INTERVAL = 0.1
BONDED_CCFB_INTERVAL = 0.025
SINGLE_CCFB_INTERVAL = 0.05


class RtcpChannel:
    """Sends RTCP compounds for one flow on a lazily opened unidirectional stream or as
    DATAGRAMs."""

    def __init__(self, quic: QuicConnection, flow_id: int = 0, datagram: bool = False) -> None:
        self.quic = quic
        self.flow_id = flow_id
        self.datagram = datagram
        self._stream: int | None = None
        self.sent = 0
        self.restarts = 0

    def send(self, packet: bytes) -> None:
        if self.datagram and self.quic._remote_max_datagram_frame_size:  # noqa: SLF001
            self.quic.send_datagram_frame(encode_datagram(self.flow_id, packet))
        else:
            record = encode_stream_record(packet)
            if self._stream is not None:
                try:
                    self.quic.send_stream_data(self._stream, record)
                    self.sent += 1
                    return
                except ValueError:     # the peer stopped the stream: carry on on a new one
                    self.restarts += 1
            self._stream = self.quic.get_next_available_stream_id(is_unidirectional=True)
            self.quic.send_stream_data(self._stream, encode_varint(self.flow_id) + record)
        self.sent += 1


class CcfbFeedback:
    """Receiver side: records RTP arrivals and emits RR + CCFB every ``interval``."""

    def __init__(self, ssrc: int, interval: float = CCFB_INTERVAL) -> None:
        self.ssrc = ssrc
        self.interval = interval
        self._arrivals: dict[int, list[tuple[int, float, int]]] = {}
        self._next = 0.0
        self.reports = 0

    def on_rtp(self, data: bytes, arrival: float) -> None:
        if len(data) < 12:
            return
        ssrc = int.from_bytes(data[8:12], "big")
        seq = (data[2] << 8) | data[3]
        packets = self._arrivals.setdefault(ssrc, [])
        if len(packets) < MAX_REPORTED:
            packets.append((seq, arrival, 0))

    def poll(self, now: float) -> bytes | None:
        """An RTCP compound to send now, or None."""
        if now < self._next or not any(self._arrivals.values()):
            return None
        self._next = now + self.interval
        ccfb = rtcp.Ccfb.from_arrivals(self.ssrc, now, self._arrivals)
        self._arrivals = {}
        self.reports += 1
        return rtcp.build_rtcp_compound([rtcp.ReceiverReport(self.ssrc), ccfb])


class SenderReports:
    """Sender side: an SR (+ SDES CNAME) every ``interval`` — RTP time to NTP time."""

    def __init__(self, ssrc: int, cname: str = "strata-roq", interval: float = 1.0) -> None:
        self.ssrc = ssrc
        self.cname = cname
        self.interval = interval
        self._next = 0.0

    def poll(self, now: float, wall: float, rtp_timestamp: int, packets: int,
             octets: int) -> bytes | None:
        if now < self._next:
            return None
        self._next = now + self.interval
        sr = rtcp.SenderReport(self.ssrc, ntp_from_seconds(wall), rtp_timestamp & 0xFFFFFFFF,
                               packets & 0xFFFFFFFF, octets & 0xFFFFFFFF)
        return rtcp.build_rtcp_compound([sr, rtcp.Sdes.cname(self.ssrc, self.cname)])


def transport_stats(quic: QuicConnection) -> dict:
    """What RTCP receiver reports would say, read from QUIC's own state (draft §10)."""
    loss = quic._loss  # noqa: SLF001 - aioquic exposes no public statistics
    def ms(value: float) -> float | None:
        return None if value in (None, float("inf")) else round(value * 1000, 3)
    return {
        "srtt_ms": ms(loss._rtt_smoothed) if loss._rtt_initialized else None,  # noqa: SLF001
        "min_rtt_ms": ms(loss._rtt_min),  # noqa: SLF001
        "rttvar_ms": ms(loss._rtt_variance) if loss._rtt_initialized else None,  # noqa: SLF001
        "cwnd_bytes": loss.congestion_window,
        "bytes_in_flight": loss.bytes_in_flight,
    }

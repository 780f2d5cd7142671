"""Repair packets on the wire: RTP packets of their own — payload type
:data:`FEC_PAYLOAD_TYPE`, the media SSRC with its low bit set, their own sequence numbers,
the RTP timestamp of the block's first source (so deadline logic treats them like the media
they protect) — carrying a :class:`~strata_roq.fec.raptor.RepairHeader` and one symbol."""

from __future__ import annotations

import struct

from strata_roq.fec.raptor import RepairHeader

#: RTP payload type of repair packets (dynamic range; both ends are Strata).
FEC_PAYLOAD_TYPE = 118
_RTP = struct.Struct(">BBHII")


def is_repair(packet: bytes) -> bool:
    return len(packet) >= 12 and packet[1] & 0x7F == FEC_PAYLOAD_TYPE


def make_repair_packet(header: RepairHeader | bytes, symbol: bytes, *, ssrc: int, seq: int,
                       timestamp: int, mark_ssrc: bool = True) -> bytes:
    """``header`` may be given already encoded (it is the same for every symbol of a block).
    ``mark_ssrc``: set the SSRC's low bit (RoQ); RIST keeps the flow's SSRC, whose low bit
    already means "retransmission" there."""
    if isinstance(header, RepairHeader):
        header = header.encode()
    ssrc = (ssrc | 1) if mark_ssrc else ssrc
    return b"".join((_RTP.pack(0x80, FEC_PAYLOAD_TYPE, seq & 0xFFFF, timestamp & 0xFFFFFFFF,
                               ssrc & 0xFFFFFFFF), header, symbol))


def rtp_seq(packet: bytes) -> int:
    return (packet[2] << 8) | packet[3]

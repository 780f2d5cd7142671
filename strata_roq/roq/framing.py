"""RoQ wire format (draft-ietf-avtcore-rtp-over-quic-14): flow ids, stream and datagram
encapsulation, error codes.

§5.1: every stream and every DATAGRAM starts with a flow identifier (a QUIC varint).
§5.2.1: a stream then carries ``{Length (i), RTP/RTCP packet}`` records, split across QUIC
STREAM frames wherever QUIC likes — so :class:`StreamParser` is incremental.
§5.3: a DATAGRAM carries the flow id and exactly one packet. §7: error codes.
Malformed input raises :class:`RoqProtocolError` carrying the draft's error code, nothing else.
"""

from __future__ import annotations

from enum import IntEnum

from aioquic.buffer import encode_uint_var

from strata_roq.errors import StrataError

#: ALPN token of the draft revision this implements (§4.1: drafts use ``roq-NN``).
ALPN = "roq-14"
#: Largest RTP/RTCP packet accepted on a stream; a longer length field is a PACKET_ERROR.
MAX_PACKET_SIZE = 65535
MAX_VARINT = (1 << 62) - 1


class RoqErrorCode(IntEnum):
    """§7 application error codes (CONNECTION_CLOSE, RESET_STREAM, STOP_SENDING)."""

    NO_ERROR = 0x00
    GENERAL_ERROR = 0x01
    INTERNAL_ERROR = 0x02
    PACKET_ERROR = 0x03
    STREAM_CREATION_ERROR = 0x04
    FRAME_CANCELLED = 0x05
    UNKNOWN_FLOW_ID = 0x06
    EXPECTATION_UNMET = 0x07


class RoqProtocolError(StrataError):
    """The peer broke the RoQ framing; ``code`` is what to close or reset with."""

    def __init__(self, code: RoqErrorCode, reason: str) -> None:
        super().__init__(f"{code.name}: {reason}")
        self.code = code
        self.reason = reason


def encode_varint(value: int) -> bytes:
    """QUIC variable-length integer (RFC 9000 §16), via aioquic."""
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{value} does not fit a QUIC varint")
    return encode_uint_var(value)


def decode_varint(data, offset: int = 0) -> tuple[int, int] | None:
    """``(value, next offset)`` of the varint at ``offset``, or None if it is incomplete."""
    if offset >= len(data):
        return None
    first = data[offset]
    size = 1 << (first >> 6)
    end = offset + size
    if end > len(data):
        return None
    value = first & 0x3F
    for i in range(offset + 1, end):
        value = (value << 8) | data[i]
    return value, end


#: The 2-byte varint length prefixes made so far, by length (every RTP packet's size).
_LENGTH2: list[bytes | None] = [None] * 16384


def encode_stream_record(packet: bytes | memoryview) -> bytes:
    """One ``{Length, packet}`` record for a stream (§5.2.1)."""
    n = len(packet)
    if 64 <= n < 16384:          # hot path: a 2-byte varint, made once per length
        prefix = _LENGTH2[n]
        if prefix is None:
            prefix = _LENGTH2[n] = bytes((0x40 | n >> 8, n & 0xFF))
        return prefix + packet
    if not 0 < n <= MAX_PACKET_SIZE:
        raise ValueError(f"packet of {n} bytes cannot be sent")
    return encode_uint_var(n) + bytes(packet)


def encode_stream_start(flow_id: int, packets=()) -> bytes:
    """The first bytes of a new stream: the flow id, then any packets."""
    return encode_varint(flow_id) + b"".join(encode_stream_record(p) for p in packets)


def encode_datagram(flow_id: int, packet: bytes | memoryview) -> bytes:
    """A DATAGRAM payload: flow id + one packet (§5.3)."""
    return encode_varint(flow_id) + bytes(packet)


def parse_datagram(data: bytes | memoryview) -> tuple[int, memoryview]:
    """``(flow id, packet)`` of a DATAGRAM payload."""
    head = decode_varint(data)
    if head is None:
        raise RoqProtocolError(RoqErrorCode.PACKET_ERROR, "datagram ends inside its flow id")
    flow_id, offset = head
    if offset >= len(data):
        raise RoqProtocolError(RoqErrorCode.PACKET_ERROR, "datagram holds no packet")
    return flow_id, memoryview(data)[offset:]


class StreamParser:
    """Reassembles the packets of one RoQ stream from arbitrarily split STREAM data.

    Hot path (one call per STREAM frame): records are cut straight out of the new data; an
    incomplete tail is kept as bytes and joined to the next data (QUIC packs stream data
    into packet-sized frames, so nearly every packet spans two frames: one join each). A
    tail that more data still leaves incomplete is accumulated in a bytearray instead
    (amortised O(1) appends), so feeding a large packet byte by byte stays linear.
    """

    __slots__ = ("flow_id", "_tail", "_want", "max_packet_size")

    def __init__(self, max_packet_size: int = MAX_PACKET_SIZE) -> None:
        self.flow_id: int | None = None
        self._tail: bytes | bytearray = b""   # an incomplete flow id, length or packet
        self._want = 0      # size the tail must reach to complete a packet, 0 if not known
        self.max_packet_size = max_packet_size

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole packet."""
        return len(self._tail)

    def feed(self, data, end_stream: bool = False) -> list[bytes]:
        """Feed the next bytes of the stream; return the packets now complete."""
        out: list[bytes] = []
        tail = self._tail
        if tail:
            if len(tail) + len(data) < self._want:   # the packet is still incomplete
                if type(tail) is bytes:
                    tail = self._tail = bytearray(tail)
                tail += data
                if end_stream:
                    raise RoqProtocolError(RoqErrorCode.PACKET_ERROR, "stream ends inside a packet")
                return out
            data = (bytes(tail) if type(tail) is bytearray else tail) + data
        elif type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        offset = 0
        if self.flow_id is None:
            head = decode_varint(data, 0)
            if head is None:
                self._tail = data
                if end_stream and n:
                    raise RoqProtocolError(RoqErrorCode.PACKET_ERROR,
                                           "stream ends inside its flow id")
                return out
            self.flow_id, offset = head
        limit = self.max_packet_size
        end = 0
        while offset < n:
            first = data[offset]
            if first < 0x40:                         # 1-byte varint
                length, start = first, offset + 1
            elif first < 0x80 and offset + 1 < n:    # 2-byte varint (every RTP packet size)
                length, start = ((first & 0x3F) << 8) | data[offset + 1], offset + 2
            else:
                head = decode_varint(data, offset)
                if head is None:                     # the length itself is cut
                    break
                length, start = head
            if length == 0 or length > limit:
                raise RoqProtocolError(RoqErrorCode.PACKET_ERROR,
                                       f"packet length {length} on flow {self.flow_id}")
            end = start + length
            if end > n:
                break
            out.append(data[start:end])
            offset = end
        if offset < n:
            self._tail = data[offset:]
            self._want = end - offset if end > n else 0
            if end_stream:
                raise RoqProtocolError(RoqErrorCode.PACKET_ERROR, "stream ends inside a packet")
        else:
            self._tail = b""
            self._want = 0
        return out

"""RIST Main Profile (TR-06-2) GRE-over-UDP encapsulation, byte-compatible with librist 0.2.7.

Every datagram: a GRE header, then (for the reduced-overhead protocol 0x88B6) two 16-bit
"virtual ports" — source then destination — then one RTP or RTCP packet. Data goes to virtual
port 1968, RTCP to 1969. With a pre-shared key the header carries the K and S bits: a 4-byte
nonce (key field) and a 4-byte per-peer packet counter (sequence field), and everything after
the header is AES-CTR encrypted (see :mod:`strata_roq.rist.psk`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from strata_roq.errors import ParseError
from strata_roq.rist.psk import PskDecryptor, PskEncryptor, aes_ctr

PROTO_REDUCED = 0x88B6
PROTO_KEEPALIVE = 0x88B5
PROTO_FULL = 0x0800          # librist's out-of-band data (e.g. its "auth,ip:port" message)
FLAG_C, FLAG_K, FLAG_S = 0x80, 0x20, 0x10
VERSION_1 = 0x08             # GRE "RVer 1": the 2021 IV layout
FLAG_AES256 = 0x40           # librist's "H" bit: the key is 256 bits
DATA_PORT, RTCP_PORT = 1968, 1969

_PLAIN_HEADER = struct.pack(">HH", 0, PROTO_REDUCED)
_PORTS = struct.Struct(">HH")


@dataclass(slots=True)
class GrePacket:
    protocol: int
    src_port: int
    dst_port: int
    payload: bytes | memoryview
    encrypted: bool = False


def encapsulate(payload: bytes, src_port: int, dst_port: int,
                encryptor: PskEncryptor | None = None) -> bytes:
    """One GRE datagram carrying ``payload`` between two virtual ports."""
    body = _PORTS.pack(src_port, dst_port) + payload
    if encryptor is None:
        return _PLAIN_HEADER + body
    nonce, seq, key = encryptor.next()
    flags2 = VERSION_1 | (FLAG_AES256 if encryptor.bits == 256 else 0)
    return (struct.pack(">BBH", FLAG_K | FLAG_S, flags2, PROTO_REDUCED) + nonce
            + struct.pack(">I", seq) + aes_ctr(key, seq, body))


def decapsulate(data: bytes | memoryview, decryptor: PskDecryptor | None) -> GrePacket:
    """Parse (and decrypt) one datagram; ParseError says what is wrong with it.

    Keep-alive and out-of-band packets come back with their protocol and an empty payload
    so the caller can count them without treating them as media.
    """
    view = memoryview(data)
    n = len(view)
    if n < 4:
        raise ParseError(f"GRE header truncated ({n} bytes)")
    flags, flags2, proto = struct.unpack_from(">BBH", view)
    offset = 4
    if flags & FLAG_C:
        offset += 4
    nonce = seq = None
    if flags & FLAG_K:
        nonce = view[offset:offset + 4]
        offset += 4
    if flags & FLAG_S:
        if offset + 4 <= n:
            seq, = struct.unpack_from(">I", view, offset)
        offset += 4
    if offset > n:
        raise ParseError(f"GRE header needs {offset} bytes, datagram has {n}")
    if proto != PROTO_REDUCED:
        if proto in (PROTO_KEEPALIVE, PROTO_FULL):
            return GrePacket(proto, 0, 0, b"")
        raise ParseError(f"unknown GRE protocol 0x{proto:04x}")
    body = view[offset:]
    encrypted = nonce is not None
    if encrypted:
        if decryptor is None:
            raise ParseError("encrypted GRE packet but no secret configured")
        if seq is None:
            raise ParseError("encrypted GRE packet without a sequence number")
        bits = 256 if flags2 & FLAG_AES256 else 128
        body = memoryview(aes_ctr(decryptor.key_for(nonce, bits), seq, body))
    elif decryptor is not None:
        raise ParseError("unencrypted GRE packet but a secret is configured")
    if len(body) < 4:
        raise ParseError("GRE packet too short for its virtual ports")
    src, dst = _PORTS.unpack_from(body)
    return GrePacket(proto, src, dst, body[4:], encrypted)

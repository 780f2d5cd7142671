"""RIST Main Profile pre-shared-key encryption (TR-06-2 §7 as librist 0.2.7 does it).

Key = PBKDF2-HMAC-SHA256(passphrase, salt = the GRE key field's 4 nonce bytes, 1024 rounds),
16 or 32 bytes; AES-CTR whose initial counter block is the GRE sequence number (big-endian)
followed by 12 zero bytes, incremented as one 128-bit number (the post-2021 "RVer 1" layout
real ristsender traffic uses). Each direction picks its own nonce; a new one only on
``key-rotation``. Derivation is slow on purpose, so keys are cached per nonce.
"""

from __future__ import annotations

import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from strata_roq.errors import UsageError

PBKDF2_ROUNDS = 1024
_MAX_CACHED_KEYS = 64


def derive_key(passphrase: str | bytes, nonce: bytes, bits: int) -> bytes:
    """The AES key for ``nonce`` (4 bytes as on the wire); ``bits`` is 128 or 256."""
    if bits not in (128, 256):
        raise UsageError(f"aes-type must be 128 or 256, got {bits}")
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=bits // 8, salt=bytes(nonce),
                     iterations=PBKDF2_ROUNDS)
    return kdf.derive(secret)


def ctr_iv(seq: int) -> bytes:
    return struct.pack(">I12x", seq & 0xFFFFFFFF)


def aes_ctr(key: bytes, seq: int, data: bytes | memoryview) -> bytes:
    """Encrypt or decrypt (the same operation in CTR) one packet body."""
    ctx = Cipher(algorithms.AES(key), modes.CTR(ctr_iv(seq))).encryptor()
    return ctx.update(data) + ctx.finalize()


class PskEncryptor:
    """One direction's state: our nonce, its key, the packet counter and key rotation."""

    def __init__(self, passphrase: str, bits: int, key_rotation: int = 0) -> None:
        self.passphrase = passphrase
        self.bits = bits
        self.key_rotation = key_rotation
        self.seq = 0
        self.rotations = 0
        self._new_nonce()

    def _new_nonce(self) -> None:
        self.nonce = os.urandom(4)
        while self.nonce == b"\0\0\0\0":
            self.nonce = os.urandom(4)
        self.key = derive_key(self.passphrase, self.nonce, self.bits)
        self._used = 0

    def next(self) -> tuple[bytes, int, bytes]:
        """(nonce, sequence, key) for the next packet."""
        if self.key_rotation and self._used >= self.key_rotation:
            self._new_nonce()
            self.rotations += 1
        self._used += 1
        seq = self.seq
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return self.nonce, seq, self.key


class PskDecryptor:
    """Keys for the peer's nonces, derived once each; the key size comes from the H bit."""

    def __init__(self, passphrase: str) -> None:
        self.passphrase = passphrase
        self._keys: dict[tuple[bytes, int], bytes] = {}
        self.derived = 0          # keys derived: > 1 means the peer rotated its key
    def key_for(self, nonce: bytes, bits: int) -> bytes:
        k = (bytes(nonce), bits)
        key = self._keys.get(k)
        if key is None:
            if len(self._keys) >= _MAX_CACHED_KEYS:  # bounded: a nonce flood cannot grow it
                self._keys.pop(next(iter(self._keys)))
            key = self._keys[k] = derive_key(self.passphrase, nonce, bits)
            self.derived += 1
        return key

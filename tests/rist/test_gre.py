import pytest

from strata_roq.errors import ParseError
from strata_roq.rist import gre
from strata_roq.rist.psk import PskDecryptor, PskEncryptor


def test_plain_header_is_librists():
    data = gre.encapsulate(b"\x80\x21rtp", 32768, 1968)
    assert data[:4] == bytes.fromhex("000088b6") and data[4:8] == bytes.fromhex("800007b0")
    p = gre.decapsulate(data, None)
    assert (p.protocol, p.src_port, p.dst_port, bytes(p.payload)) == (0x88B6, 32768, 1968, b"\x80\x21rtp")


@pytest.mark.parametrize("bits,flags2", [(128, 0x08), (256, 0x48)])
def test_encrypted_header_and_round_trip(bits, flags2):
    enc = PskEncryptor("pass", bits)
    data = gre.encapsulate(b"payload", 1, 1968, enc)
    assert data[0] == 0x30 and data[1] == flags2 and data[2:4] == b"\x88\xb6"
    assert data[4:8] == enc.nonce and data[8:12] == bytes(4)       # first packet: counter 0
    assert b"payload" not in data
    p = gre.decapsulate(data, PskDecryptor("pass"))
    assert p.encrypted and bytes(p.payload) == b"payload" and p.dst_port == 1968
    second = gre.decapsulate(gre.encapsulate(b"again", 1, 1968, enc), PskDecryptor("pass"))
    assert bytes(second.payload) == b"again"


def test_wrong_secret_yields_garbage_not_plaintext():
    data = gre.encapsulate(b"payload", 1, 1968, PskEncryptor("right", 128))
    p = gre.decapsulate(data, PskDecryptor("wrong"))
    assert bytes(p.payload) != b"payload"


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x88", b"\x30\x08\x88\xb6\x01\x02",
                                  b"\x00\x00\x12\x34abcd", b"\x00\x00\x88\xb6\x00"])
def test_malformed_gre_raises_parse_error(data):
    with pytest.raises(ParseError):
        gre.decapsulate(data, None)


def test_keepalive_and_out_of_band_are_recognised():
    assert gre.decapsulate(b"\x00\x00\x08\x00auth,1.2.3.4:5", None).protocol == gre.PROTO_FULL
    assert gre.decapsulate(b"\x00\x00\x88\xb5" + bytes(8), None).protocol == gre.PROTO_KEEPALIVE


def test_encryption_mismatch_is_an_error_both_ways():
    with pytest.raises(ParseError):
        gre.decapsulate(gre.encapsulate(b"x" * 8, 1, 2), PskDecryptor("k"))
    with pytest.raises(ParseError):
        gre.decapsulate(gre.encapsulate(b"x" * 8, 1, 2, PskEncryptor("k", 128)), None)

"""Opus in TS: control headers stripped whatever their optional fields, sizes coded across
0xFF bytes, garbage stops the split, packet durations read from the TOC byte."""

from strata_roq.media.opus import packet_channels, packet_samples, split_ts_opus


def _header(size: int, start_trim=None, end_trim=None, extension=None) -> bytes:
    flags = 0xE0 | (0x10 if start_trim is not None else 0) | (0x08 if end_trim is not None
                                                              else 0)
    flags |= 0x04 if extension is not None else 0
    out = bytearray((0x7F, flags))
    out += b"\xff" * (size // 255) + bytes((size % 255,))
    if start_trim is not None:
        out += start_trim.to_bytes(2, "big")
    if end_trim is not None:
        out += end_trim.to_bytes(2, "big")
    if extension is not None:
        out += bytes((len(extension),)) + extension
    return bytes(out)


def test_split_strips_every_header_form():
    a, b, c = b"\xfc" + bytes(300), b"\x78" + bytes(254), b"\x01" + bytes(9)
    data = (_header(len(a), start_trim=312) + a + _header(len(b)) + b
            + _header(len(c), end_trim=7, extension=b"xyz") + c)
    assert split_ts_opus(data) == [a, b, c]


def test_split_stops_at_garbage_and_truncation():
    a = b"\xfc" + bytes(20)
    assert split_ts_opus(_header(len(a)) + a + b"\x00\x01junk") == [a]
    assert split_ts_opus(_header(len(a)) + a[:-1]) == []          # size runs past the end
    assert split_ts_opus(b"\x7f\xe0") == [] and split_ts_opus(b"") == []
    assert split_ts_opus(_header(0) + b"rest") == []               # empty packet: not one


def test_durations_and_channels_from_the_toc():
    assert packet_samples(bytes((31 << 3,))) == 960                # CELT 20 ms, one frame
    assert packet_samples(bytes((16 << 3,))) == 120                # CELT 2.5 ms
    assert packet_samples(bytes((3 << 3 | 1,))) == 2 * 2880        # SILK 60 ms, two frames
    assert packet_samples(bytes((13 << 3 | 3, 3))) == 3 * 960      # hybrid 20 ms, code 3
    assert packet_samples(bytes((13 << 3 | 3,))) == 0              # code 3 without count
    assert packet_channels(b"\xfc") == 2 and packet_channels(b"\xf8") == 1

"""Capture stamps survive encoding to Annex-B and do not disturb decoders."""

from __future__ import annotations

import av
from hypothesis import given, strategies as st

from strata_roq.media.nal import NalScanner
from strata_roq.media.stamp import CaptureStamp, build_sei_nal, find_stamp, insert_stamp

_stamps = st.builds(CaptureStamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                    st.integers(0, 2**64 - 1))


@given(_stamps)
def test_stamp_round_trips_through_an_sei_nal(stamp):
    for codec in ("h264", "hevc"):
        au = insert_stamp(b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01\x65\x88\x84", stamp, codec) \
            if codec == "h264" else insert_stamp(b"\x00\x00\x01\x46\x01\x50", stamp, codec)
        info = NalScanner(codec).scan(au)
        assert find_stamp(info.user_data) == stamp


def test_zero_heavy_stamp_gets_emulation_prevention():
    nal = build_sei_nal(CaptureStamp(0, 0, 0))
    body = nal[4:]
    assert b"\x00\x00\x00" not in body and b"\x00\x00\x01" not in body and b"\x00\x00\x02" not in body


def test_sei_goes_after_the_access_unit_delimiter():
    au = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x42"
    out = insert_stamp(au, CaptureStamp(1, 2, 3))
    assert out.startswith(b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x06")
    assert out.endswith(b"\x00\x00\x00\x01\x67\x42")


def test_foreign_user_data_is_not_a_stamp():
    assert CaptureStamp.from_payload(bytes(32)) is None
    assert find_stamp([bytes(40), CaptureStamp(5, 6, 7).payload()]) == CaptureStamp(5, 6, 7)


def test_stamped_stream_still_decodes(pyav_h264_datagrams, tmp_path):
    datagrams, _ = pyav_h264_datagrams
    path = tmp_path / "stamped.ts"
    path.write_bytes(b"".join(datagrams))
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == 90

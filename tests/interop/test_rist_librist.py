"""Strata's RIST against librist 0.2.7's own tools (Debian rist-tools), byte for byte."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]

COUNT = 2000
SECRETS = {"plain": (None, None), "aes128": ("Strata-psk-1", 128), "aes256": ("Strata-psk-2", 256),
           "aes128-rotating": ("Strata-psk-3", 128)}
#: key-rotation= (a new nonce, hence key, every N packets) for the "-rotating" cases
ROTATION = 300


def _librist_args(profile, crypto):
    secret, bits = SECRETS[crypto]
    args = ["-p", "0" if profile == "simple" else "1"]
    if secret:
        args += ["-s", secret, "-e", str(bits)]
    return args


def _librist_url(port, crypto):
    return f"rist://127.0.0.1:{port}" + (f"?key-rotation={ROTATION}" if "rotating" in crypto else "")


def _strata_query(profile, crypto, extra=""):
    secret, bits = SECRETS[crypto]
    q = [f"profile={profile}"]
    if secret:
        q += [f"secret={secret}", f"aes-type={bits}"]
    if "rotating" in crypto:
        q += [f"key-rotation={ROTATION}"]
    return "?" + "&".join(q) + extra


@pytest.mark.parametrize("profile,crypto", [("simple", "plain"), ("main", "plain"),
                                            ("main", "aes128"), ("main", "aes256"),
                                            ("main", "aes128-rotating")])
def test_ristsender_to_strata_receive_is_byte_identical(rig, profile, crypto):
    rig.need("ristsender")
    rist_port, in_port, out_port = rig.free_port(even=True), rig.free_port(), rig.free_port()
    collector = rig.Collector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{rist_port}"
                              + _strata_query(profile, crypto, "&buffer=500"),
                              "-o", f"udp://127.0.0.1:{out_port}", "--duration", "8"),
                   ready="listening on")
    tx = rig.start(["ristsender", "-i", f"udp://@127.0.0.1:{in_port}",
                    "-o", _librist_url(rist_port, crypto), *_librist_args(profile, crypto)])
    time.sleep(1.0)
    rig.blast(in_port, COUNT, 0.001)
    got = collector.wait()
    tx.stop()
    _, err = rx.finish()
    stats = rig.last_json(err, "receive")
    assert got == [rig.payload(i) for i in range(COUNT)], (len(got), stats)
    assert stats["lost"] == 0 and stats["decrypt_errors"] == 0 and stats["bad_packets"] == 0
    assert stats["peers"][0]["cname"]                     # librist's SDES reached us
    if "rotating" in crypto:
        assert stats["psk_keys"] >= COUNT // ROTATION       # librist rotated; we followed


@pytest.mark.parametrize("profile,crypto", [("simple", "plain"), ("main", "plain"),
                                            ("main", "aes128"), ("main", "aes256"),
                                            ("main", "aes128-rotating")])
def test_strata_send_to_ristreceiver_is_byte_identical(rig, profile, crypto):
    rig.need("ristreceiver")
    rist_port, in_port, out_port = rig.free_port(even=True), rig.free_port(), rig.free_port()
    collector = rig.Collector(out_port)
    rx = rig.start(["ristreceiver", "-i", f"rist://@127.0.0.1:{rist_port}",
                    "-o", f"udp://127.0.0.1:{out_port}", *_librist_args(profile, crypto)])
    time.sleep(0.5)
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{in_port}", "-o",
                              f"rist://127.0.0.1:{rist_port}" + _strata_query(profile, crypto),
                              "--duration", "6"), ready="send:")
    time.sleep(1.0)
    rig.blast(in_port, COUNT, 0.001)
    got = collector.wait()
    rx.stop()
    _, err = tx.finish()
    stats = rig.last_json(err, "send")
    expected = [rig.payload(i) for i in range(COUNT)]
    if profile == "simple":
        # librist 0.2.7's Simple Profile receiver discards the first packet of a new flow,
        # from its own ristsender too (checked on this machine): everything after it counts.
        assert got == expected[1:] or got == expected, len(got)
    else:
        assert got == expected, len(got)
    assert stats["peers"][0]["cname"] and stats["peers"][0]["alive"]
    if "rotating" in crypto:
        assert stats["peers"][0]["key_rotations"] >= COUNT // ROTATION - 1


def test_wrong_psk_is_counted_not_crashing(rig):
    rig.need("ristsender")
    rist_port, in_port, out_port = rig.free_port(even=True), rig.free_port(), rig.free_port()
    rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{rist_port}?secret=wrong&aes-type=128",
                              "-o", f"udp://127.0.0.1:{out_port}", "--duration", "4"),
                   ready="listening on")
    tx = rig.start(["ristsender", "-i", f"udp://@127.0.0.1:{in_port}",
                    "-o", f"rist://127.0.0.1:{rist_port}", "-s", "right", "-e", "128"])
    time.sleep(0.5)
    rig.blast(in_port, 300, 0.002)
    _, err = rx.finish()
    tx.stop()
    stats = rig.last_json(err, "receive")
    assert rx.p.returncode == 0
    assert stats["decrypt_errors"] > 0 and stats["received"] == 0
    assert err.count("did not decrypt") == 1                 # logged once, then counted

"""Sender and receiver cores against each other in virtual time (no sockets, no sleeps)."""

from __future__ import annotations

import pytest

from strata_roq.rist.config import RistConfig
from strata_roq.rist.receiver import RistReceiver
from strata_roq.rist.sender import RistSender
from strata_roq.rtp.packet import payload_bounds


def _payloads_out(receiver) -> list[bytes]:
    out = []
    for packet in receiver.take_delivered():
        start, end = payload_bounds(packet)
        out.append(packet[start:end])
    return out


def _pair(rist_net, *, profile="main", secret=None, bits=0, delay=0.01, buffer=0.5, **cfg):
    conf = RistConfig(profile=profile, secret=secret, aes_bits=bits, buffer=buffer, **cfg)
    net = rist_net(delay=delay)
    tx = RistSender(conf, [(("rx", 6000), 0)])
    rx = RistReceiver(RistConfig(profile=profile, secret=secret, aes_bits=bits, buffer=buffer, **cfg))
    net.add("tx", tx, 5000, profile == "main")
    net.add("rx", rx, 6000, profile == "main")
    return net, tx, rx


@pytest.mark.parametrize("profile,secret,bits", [("simple", None, 0), ("main", None, 0),
                                                 ("main", "s3cret", 128), ("main", "s3cret", 256)])
def test_clean_link_delivers_every_payload_in_order(rist_net, ts_payloads, profile, secret, bits):
    net, tx, rx = _pair(rist_net, profile=profile, secret=secret, bits=bits)
    payloads = ts_payloads(2000)
    net.stream("tx", payloads, 0.0005, start=0.2)
    net.run_until(2.0)
    assert _payloads_out(rx) == payloads
    assert rx.stats.lost == rx.stats.missing == rx.stats.bad_packets == rx.stats.decrypt_errors == 0
    assert tx.stats.sent == 2000 and tx.stats.retransmitted == 0
    assert tx.peers[next(iter(tx.peers))].cname == "strata-roq"     # SDES handshake both ways
    assert rx.stats_dict(net.now)["rtt"] == pytest.approx(20.0, abs=1.0)   # echo RTT
    assert tx.peers[next(iter(tx.peers))].rtt == pytest.approx(0.02, abs=0.002)  # RR LSR/DLSR


@pytest.mark.parametrize("profile", ["simple", "main"])
def test_random_loss_both_directions_is_recovered(rist_net, ts_payloads, profile):
    net, tx, rx = _pair(rist_net, profile=profile, delay=0.02)
    net.loss = lambda direction, data: net.rng.random() < 0.05
    payloads = ts_payloads(4000)
    net.stream("tx", payloads, 0.0005, start=0.2)
    net.run_until(3.5)
    got = _payloads_out(rx)
    assert rx.stats.missing > 100 and rx.stats.recovered_total > 100
    assert len(got) >= 0.9999 * len(payloads) and rx.stats.lost == 0
    assert got == payloads
    assert tx.stats.retransmitted >= rx.stats.recovered_total


def test_gilbert_elliott_bursts_are_recovered(rist_net, ts_payloads):
    net, tx, rx = _pair(rist_net, delay=0.02)
    state = {"bad": False}

    def burst_loss(direction, data):   # mean burst 5 packets, ~2 % loss
        p_gb, p_bg = 0.004, 0.2
        if direction == "back":
            return False
        state["bad"] = (net.rng.random() >= p_bg) if state["bad"] else (net.rng.random() < p_gb)
        return state["bad"]

    net.loss = burst_loss
    payloads = ts_payloads(6000)
    net.stream("tx", payloads, 0.0005, start=0.2)
    net.run_until(4.5)
    assert rx.stats.missing > 50 and rx.stats.lost == 0 and _payloads_out(rx) == payloads


def test_unrecoverable_packet_is_given_up_at_its_deadline(rist_net, ts_payloads):
    net, tx, rx = _pair(rist_net, buffer=0.2)
    doomed = {5}

    def lose_seq_5_always(direction, data):
        if direction == "fwd" and len(data) > 600:
            payload = data[-1311 - 5:]
            return int.from_bytes(payload[1:5], "big") in doomed
        return False

    net.loss = lose_seq_5_always
    payloads = ts_payloads(50)
    net.stream("tx", payloads, 0.002, start=0.2)
    net.run_until(0.25)
    assert len(_payloads_out(rx)) == 5          # held behind the gap
    net.run_until(1.5)
    rest = _payloads_out(rx)
    assert rest == payloads[6:] and rx.stats.lost == 1
    assert rx.stats.retries >= 2                # retried, spaced by RTT, then gave up


def test_sequence_wrap(rist_net, ts_payloads):
    net, tx, rx = _pair(rist_net)
    tx.seq = 65500
    net.loss = lambda direction, data: direction == "fwd" and net.rng.random() < 0.05
    payloads = ts_payloads(100)
    net.stream("tx", payloads, 0.001, start=0.2)
    net.run_until(1.5)
    assert _payloads_out(rx) == payloads and tx.seq == (65500 + 100) & 0xFFFF


def test_bonded_duplicates_merge_into_one_stream(rist_net, ts_payloads):
    conf = RistConfig(buffer=0.5)
    net = rist_net(delay=0.01)
    tx = RistSender(conf, [(("rx", 6000), 0), (("rx2", 6000), 0)])
    rx = RistReceiver(RistConfig(buffer=0.5))
    net.add("tx", tx, 5000, True)
    net.add("rx", rx, 6000, True)
    net.add("rx2", rx, 6000, True)   # the same receiver reachable by two addresses
    net.loss = lambda direction, data: direction == "fwd" and net.rng.random() < 0.1
    payloads = ts_payloads(1000)
    net.stream("tx", payloads, 0.001, start=0.2)
    net.run_until(2.0)
    assert _payloads_out(rx) == payloads
    assert rx.stats.duplicates > 700
    assert tx.stats.datagrams == 2000


def test_weighted_outputs_share_by_weight_and_dead_peer_is_skipped(rist_net, ts_payloads):
    conf = RistConfig(buffer=0.5)
    net = rist_net(delay=0.01)
    tx = RistSender(conf, [(("rx", 6000), 3), (("rx2", 6000), 1)])
    rx = RistReceiver(RistConfig(buffer=0.5))
    net.add("tx", tx, 5000, True)
    net.add("rx", rx, 6000, True)
    net.add("rx2", rx, 6000, True)
    payloads = ts_payloads(2000)
    net.stream("tx", payloads, 0.001, start=0.2)
    net.run_until(1.0)
    a, b = (p.sent for p in tx.peers.values())
    assert a == pytest.approx(3 * b, rel=0.02)
    net.blocked.add("rx2")                       # path 2 dies
    net.run_until(2.5)
    before = list(p.sent for p in tx.peers.values())[1]
    assert _payloads_out(rx) == payloads         # the dead path's share was recovered / rerouted
    net.run_until(2.5)
    assert list(p.sent for p in tx.peers.values())[1] == before
    assert tx.stats_dict(net.now)["peers"][1]["alive"] is False


def test_nack_for_unknown_seq_and_nack_flood_are_bounded(rist_net, ts_payloads):
    from strata_roq.rist.peer import Wire
    from strata_roq.rtp import rtcp
    net, tx, rx = _pair(rist_net)
    net.stream("tx", ts_payloads(10), 0.001, start=0.2)
    net.run_until(0.5)
    peer = tx.peers[("rx", 6000)]
    wire = Wire(RistConfig())
    fake = wire.new_peer(("tx", 5000), configured=False)
    fake.local_vport, fake.remote_vport = 1968, peer.local_vport
    flood = rtcp.RistRangeNack(tx.ssrc, [(30000, 199)]).build()
    for _ in range(1000):
        tx.datagram_received(wire.encode(flood, fake, rtcp=True).data, ("rx", 6000), net.now)
    assert tx.stats.nack_unknown == 200_000 and tx.stats.retransmitted == 0
    known = rtcp.RistRangeNack(tx.ssrc, [(tx.seq - 5 & 0xFFFF, 4)]).build()
    for _ in range(100):
        tx.datagram_received(wire.encode(known, fake, rtcp=True).data, ("rx", 6000), net.now)
    assert tx.stats.retransmitted == 5 and tx.stats.nack_too_soon == 495
    assert len(tx._history) <= 32768


def test_garbage_is_counted_never_raised(rist_net):
    from hypothesis import given, settings, strategies as st
    rx = RistReceiver(RistConfig())
    rx_simple = RistReceiver(RistConfig(profile="simple"))
    rx_psk = RistReceiver(RistConfig(secret="k", aes_bits=128))
    tx = RistSender(RistConfig(), [(("a", 1), 0)], listen=True)

    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=80), st.booleans())
    def feed(data, flag):
        for core in (rx, rx_simple, rx_psk, tx):
            core.datagram_received(data, ("a", 1), 1.0, flag)
            core.handle_timer(1.0)
            core.datagrams_to_send()

    feed()
    bogus_rtcp = b"\x00\x00\x88\xb6\x80\x01\x07\xb1" + b"\x80\xc8\x00\x30" + bytes(8)
    rx.datagram_received(bogus_rtcp, ("b", 2), 2.0)
    assert rx.stats.bad_packets > 0


def test_wrong_secret_is_counted_as_decrypt_errors(rist_net, ts_payloads):
    net = rist_net()
    tx = RistSender(RistConfig(secret="right", aes_bits=128), [(("rx", 6000), 0)])
    rx = RistReceiver(RistConfig(secret="wrong", aes_bits=128))
    net.add("tx", tx, 5000, True)
    net.add("rx", rx, 6000, True)
    net.stream("tx", ts_payloads(200), 0.001, start=0.2)
    net.run_until(1.0)
    assert rx.take_delivered() == [] and rx.stats.decrypt_errors >= 200


def test_bitmask_nacks_when_asked(rist_net, ts_payloads):
    from strata_roq.rtp import rtcp
    net, tx, rx = _pair(rist_net, delay=0.02, nack_type="bitmask")
    kinds = set()

    def loss(direction, data):
        if direction == "back":          # GRE (4) + virtual ports (4), then the RTCP compound
            kinds.update(type(p).__name__ for p in rtcp.parse_rtcp_compound(data[8:]))
            return False
        return net.rng.random() < 0.05

    net.loss = loss
    payloads = ts_payloads(2000)
    net.stream("tx", payloads, 0.0005, start=0.2)
    net.run_until(2.5)
    assert _payloads_out(rx) == payloads and rx.stats.recovered_total > 50
    assert tx.stats.nacks_received >= rx.stats.recovered_total
    assert "GenericNack" in kinds and "RistRangeNack" not in kinds


def test_key_rotation_is_transparent_to_the_receiver(rist_net, ts_payloads):
    net, tx, rx = _pair(rist_net, secret="k", bits=256, key_rotation=100)
    payloads = ts_payloads(1000)
    net.stream("tx", payloads, 0.0005, start=0.2)
    net.run_until(1.5)
    peer = next(iter(tx.peers.values()))
    assert _payloads_out(rx) == payloads and peer.encryptor.rotations >= 9


@pytest.mark.parametrize("profile", ["simple", "main"])
def test_fec_between_strata_peers_rebuilds_losses_before_any_nack(rist_net, ts_payloads,
                                                                   profile):
    """fec=25 (RaptorQ over blocks of 16): random 2 % loss on a 300 ms-RTT link is rebuilt
    at the receiver — far fewer NACKs, nothing lost, every payload in order."""
    results = {}
    for fec in (0, 25):
        net, tx, rx = _pair(rist_net, profile=profile, delay=0.15, buffer=1.0, fec=fec)
        # (the stream's last packets are spared: a lost tail has no later packet to reveal it)
        net.loss = lambda direction, data, net=net: direction == "fwd" and \
            net.now < 2.19 and net.rng.random() < 0.02
        payloads = ts_payloads(4000)
        net.stream("tx", payloads, 0.0005, start=0.2)
        net.run_until(4.5)
        assert _payloads_out(rx) == payloads and rx.stats.lost == 0
        results[fec] = (tx, rx)
    tx0, rx0 = results[0]
    tx1, rx1 = results[25]
    assert tx1.stats.fec_packets == 4000 // 16 * 4 and rx1.stats.fec_packets > 900
    assert rx1.stats.fec_recovered > 50 and rx0.stats.fec_recovered == 0
    assert rx1.stats.retries < rx0.stats.retries / 4, (rx1.stats.retries, rx0.stats.retries)
    assert tx1.stats.retransmitted < tx0.stats.retransmitted / 4


def test_report_blocks_wait_for_the_peers_first_echo_response(rist_net, ts_payloads):
    # librist's sender takes an RR's LSR/DLSR as an RTT sample until it has seen an echo
    # request, computed from fields a sender never fills: one bogus sample it keeps (up to
    # 1 s, clamped to 500 ms), after which it retransmits a packet only once per buffer.
    from strata_roq.rtp import rtcp

    net, tx, rx = _pair(rist_net, profile="simple", delay=0.02)
    reports = []                                    # (rx had an echo answer, blocks sent)

    def watch(direction, data):
        if direction == "back":
            peer = next(iter(rx.peers.values()), None)
            for p in rtcp.parse_rtcp_compound(data):
                if isinstance(p, rtcp.ReceiverReport):
                    reports.append((peer is not None and peer.rtt is not None, len(p.reports)))
        return False

    net.loss = watch
    # the sender's Sender Report reaches the receiver before its first report goes out
    net.stream("tx", ts_payloads(400), 0.0005, start=0.0)
    net.run_until(1.0)
    assert reports and reports[0] == (False, 0)
    assert all(blocks == 0 for answered, blocks in reports if not answered)
    assert any(blocks for answered, blocks in reports if answered)   # then as usual
    assert tx.peers[next(iter(tx.peers))].rtt == pytest.approx(0.04, abs=0.004)

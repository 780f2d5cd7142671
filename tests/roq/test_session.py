from strata_roq.roq.session import SessionGate, build_join, new_token, parse_join
from strata_roq.rtp import rtcp


def test_join_round_trips_through_an_rtcp_compound():
    token = new_token()
    data = build_join(0x1234, token, "lte-1 ü")
    [packet] = rtcp.parse_rtcp_compound(data)
    assert parse_join(packet) == (token, "lte-1 ü")
    assert len(data) % 4 == 0


def test_other_app_packets_are_not_joins():
    other = rtcp.App(0, 1, b"XXXX", b"\0" * 20).build()
    [packet] = rtcp.parse_rtcp_compound(other)
    assert parse_join(packet) is None
    short = rtcp.App(0, 1, b"STRA", b"\0" * 4).build()
    assert parse_join(rtcp.parse_rtcp_compound(short)[0]) is None


def test_paths_of_one_session_are_joined():
    gate = SessionGate()
    token = new_token()
    for i, name in enumerate(("lte", "leo", "wifi")):
        assert gate.join(i, token, name, 0.0)
    assert all(gate.admit(i, 0.01 * i) for i in range(3))
    assert gate.stats()["paths"] == ["lte", "leo", "wifi"]
    assert gate.switches == 0


def test_a_second_live_session_is_refused_until_the_first_falls_silent():
    gate = SessionGate(takeover_after=1.0)
    a, b = new_token(), new_token()
    assert gate.join("a1", a, "p", 0.0)
    for t in range(10):
        assert gate.admit("a1", t * 0.1)
    assert not gate.join("b1", b, "p", 0.95)           # a is live: b may not take over
    assert not gate.admit("b1", 1.0)
    assert gate.refused == 1 and "b1" in gate.refused_connections
    assert gate.admit("a1", 1.05)
    # a stops; more than takeover_after later b gets the output
    assert gate.admit("b1", 2.2)
    assert gate.switches == 1 and gate.current == b
    assert not gate.admit("a1", 2.3)                   # a's stragglers no longer count


def test_media_overtaking_its_join_is_given_grace():
    gate = SessionGate(join_grace=0.5)
    token = new_token()
    gate.join("p1", token, "one", 0.0)
    assert gate.admit("p1", 0.0)
    assert gate.admit("p2", 0.1)        # p2's join has not arrived yet
    gate.join("p2", token, "two", 0.15)
    assert gate.admit("p2", 0.2)
    assert gate.admit("anon", 0.7)               # a first packet starts its grace...
    assert not gate.admit("anon", 1.3)           # ...which a token-less peer outlives
    assert gate.switches == 0


def test_first_token_adopts_the_anonymous_session():
    gate = SessionGate()
    assert gate.admit("c", 0.0)          # media before any join: anonymous session
    assert gate.join("c", new_token(), "path", 0.05)
    assert gate.admit("c", 0.1) and gate.switches == 0


def test_forget_drops_a_closed_connection():
    gate = SessionGate()
    gate.join("c", new_token(), "x", 0.0)
    gate.forget("c")
    assert gate.stats()["connections"] == 0

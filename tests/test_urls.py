import pytest

from strata_roq.errors import UsageError
from strata_roq.urls import parse_endpoint, parse_endpoints


def test_listen_and_connect_forms():
    ep = parse_endpoint("udp://@:5000")
    assert (ep.scheme, ep.host, ep.port, ep.listen) == ("udp", "", 5000, True)
    assert ep.address == ("0.0.0.0", 5000)
    ep = parse_endpoint("udp://@127.0.0.1:5000")
    assert ep.listen and ep.address == ("127.0.0.1", 5000)
    ep = parse_endpoint("rtp://239.1.1.1:5004")
    assert not ep.listen and ep.address == ("239.1.1.1", 5004)
    ep = parse_endpoint("roq://[::1]:4443?mode=stream")
    assert ep.host == "::1" and ep.params == {"mode": "stream"}


def test_rist_parameters_follow_librist_names():
    ep = parse_endpoint("rist://@:6000?profile=main&secret=abc%20d&aes-type=128&buffer=500")
    assert ep.get_int("buffer") == 500
    assert ep.get_str("secret") == "abc d"
    assert ep.get_choice("profile", ("simple", "main"), "main") == "main"
    assert ep.get_int("rtt-min", 50) == 50


def test_comma_separated_peers():
    eps = parse_endpoints("rist://host:6000,rist://host2:6002?weight=3")
    assert [(e.host, e.port) for e in eps] == [("host", 6000), ("host2", 6002)]
    assert eps[0].params == {} and eps[1].get_int("weight") == 3


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("bogus://x:1", "unknown scheme 'bogus://'"),
        ("rist://@:6000?bufer=500", "unknown parameter 'bufer'"),
        ("udp://host", "has no port"),
        ("udp://:5000", "has no host"),
        ("udp://host:99999", "not a number from 0 to 65535"),
        ("udp://host:0", "only allowed when listening"),
        ("nonsense", "not an endpoint URL"),
    ],
)
def test_bad_urls_name_what_is_wrong(url, fragment):
    with pytest.raises(UsageError) as info:
        parse_endpoint(url)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_scheme_restriction_and_typed_getters():
    with pytest.raises(UsageError, match="not accepted here"):
        parse_endpoint("roq://h:1", schemes=("udp", "rtp"))
    ep = parse_endpoint("rist://h:6000?buffer=abc&weight=9")
    with pytest.raises(UsageError, match="'buffer' must be an integer"):
        ep.get_int("buffer")
    with pytest.raises(UsageError, match="outside"):
        ep.get_int("weight", minimum=0, maximum=5)
    with pytest.raises(UsageError, match="must be one of"):
        parse_endpoint("roq://h:1?mode=nope").get_choice("mode", ("stream", "datagram"), "stream")
    assert parse_endpoint("roq://h:1?insecure=1").get_bool("insecure") is True

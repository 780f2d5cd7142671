import pytest

from strata_roq.errors import UsageError
from strata_roq.multipath.path import Path
from strata_roq.multipath.radio import RadioFeed, parse_watermarks


def test_a_reading_below_the_watermark_makes_the_path_weak_until_it_recovers():
    lte, leo = Path("lte", 0), Path("leo", 1)
    feed = RadioFeed([lte, leo])
    assert feed.feed('{"path": "lte", "rsrp": -118, "rsrq": -14, "sinr": 2.5}', 0.0)
    assert lte.unreliable and lte.rsrp == -118.0 and lte.sinr == 2.5 and not leo.unreliable
    assert feed.feed(b'{"path": "lte", "rsrp": -101}', 1.0)
    assert not lte.unreliable
    assert feed.weak_events == 1


def test_stale_readings_are_forgotten():
    lte = Path("lte")
    feed = RadioFeed([lte], stale_after=5.0)
    feed.feed('{"path": "lte", "rsrp": -125}', 0.0)
    feed.expire(4.0)
    assert lte.unreliable
    feed.expire(5.5)
    assert not lte.unreliable and lte.rsrp is None


@pytest.mark.parametrize("line", ["", "{", "[]", '{"rsrp": -100}', '{"path": "lte", "rsrp": "x"}',
                                  b"\xff\xfe", '{"path": "lte", "rsrp": [1]}'])
def test_malformed_lines_are_counted_not_fatal(line):
    lte = Path("lte")
    feed = RadioFeed([lte])
    assert not feed.feed(line, 0.0)
    assert feed.bad_lines == 1 and not lte.unreliable


def test_unknown_path_is_counted():
    feed = RadioFeed([Path("lte")])
    assert not feed.feed('{"path": "5g", "rsrp": -130}', 0.0)
    assert feed.unknown_path == 1


def test_custom_watermarks():
    p = Path("lte")
    feed = RadioFeed([p], parse_watermarks("rsrp=-120, sinr=0"))
    feed.feed('{"path": "lte", "rsrp": -118, "sinr": 3}', 0.0)
    assert not p.unreliable
    feed.feed('{"path": "lte", "rsrp": -118, "sinr": -1}', 0.1)
    assert p.unreliable


@pytest.mark.parametrize("text", ["", "rscp=-100", "rsrp", "rsrp=weak"])
def test_bad_watermarks_are_one_line_errors(text):
    with pytest.raises(UsageError) as err:
        parse_watermarks(text)
    assert "--watermark" in str(err.value) and "\n" not in str(err.value)

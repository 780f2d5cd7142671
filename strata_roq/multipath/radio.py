"""Radio metrics for cellular paths, and the signal watermark that acts on them.

Loss shows up only after the radio has already faded; a modem reports the fade first.
A metrics source (a modem daemon, ``mmcli`` in a loop, a router's API) writes JSON lines,
one per reading::

    {"path": "lte1", "rsrp": -118.0, "rsrq": -14, "sinr": 2.5}

:class:`RadioFeed` applies them to the named :class:`~strata_roq.multipath.path.Path`:
a path whose reading is below any watermark (default RSRP < −115 dBm) is *weak* — it still
carries redundancy but never the sole copy of anything — until a reading above the marks
arrives, or the readings go stale (no news for ``stale_after``: the feed, not the path, has
failed, so the path is judged on its own feedback again). Bad lines are counted, never fatal.
Sans-I/O: lines and times in, path state out.
"""

from __future__ import annotations

import json

from strata_roq.errors import UsageError

FIELDS = ("rsrp", "rsrq", "sinr")
DEFAULT_WATERMARKS = {"rsrp": -115.0}


def parse_watermarks(text: str) -> dict[str, float]:
    """``rsrp=-115,sinr=0`` → {"rsrp": -115.0, "sinr": 0.0} (UsageError naming what is wrong)."""
    marks: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name not in FIELDS:
            raise UsageError(f"--watermark: {item!r} is not one of {', '.join(FIELDS)}=VALUE")
        try:
            marks[name] = float(value)
        except ValueError:
            raise UsageError(f"--watermark: {name} needs a number, got {value!r}") from None
    if not marks:
        raise UsageError("--watermark: give at least one of rsrp=, rsrq=, sinr=")
    return marks


class RadioFeed:
    def __init__(self, paths, watermarks: dict[str, float] | None = None,
                 stale_after: float = 5.0) -> None:
        self.paths = {p.name: p for p in paths}
        self.watermarks = dict(DEFAULT_WATERMARKS if watermarks is None else watermarks)
        self.stale_after = stale_after
        self.lines = 0
        self.bad_lines = 0
        self.unknown_path = 0
        self.weak_events = 0        # transitions into the weak state
        self._last: dict[str, float] = {}

    def feed(self, line: bytes | str, now: float) -> bool:
        """Apply one JSON line; False (and counted) when it is malformed or names no path."""
        self.lines += 1
        try:
            reading = json.loads(line)
            name = reading["path"]
            metrics = {k: float(reading[k]) for k in FIELDS if reading.get(k) is not None}
        except (ValueError, KeyError, TypeError):
            self.bad_lines += 1
            return False
        path = self.paths.get(name)
        if path is None:
            self.unknown_path += 1
            return False
        was_weak = path.radio_weak
        path.update_radio(metrics, self.watermarks)
        if path.radio_weak and not was_weak:
            self.weak_events += 1
        self._last[name] = now
        return True

    def expire(self, now: float) -> None:
        """Forget readings older than ``stale_after``."""
        for name, when in list(self._last.items()):
            if now - when > self.stale_after:
                del self._last[name]
                self.paths[name].clear_radio()

    def stats(self) -> dict:
        return {"lines": self.lines, "bad_lines": self.bad_lines,
                "unknown_path": self.unknown_path, "weak_events": self.weak_events,
                "watermarks": self.watermarks}

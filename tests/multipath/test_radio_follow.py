"""--path-metrics sources: a growing (and rotated) file, and UDP datagrams."""

import asyncio
import json
import os
import socket

from strata_roq.io.radio import follow_metrics
from strata_roq.multipath.path import Path
from strata_roq.multipath.radio import RadioFeed


async def _until(cond, timeout=3.0):
    for _ in range(int(timeout / 0.05)):
        if cond():
            return True
        await asyncio.sleep(0.05)
    return False


def test_follows_a_file_that_appears_late_grows_and_is_rotated(tmp_path):
    path = tmp_path / "radio.jsonl"
    lte = Path("lte")
    feed = RadioFeed([lte])

    async def scenario():
        task = asyncio.ensure_future(follow_metrics(str(path), feed))
        await asyncio.sleep(0.3)                       # no file yet: waits, no crash
        with open(path, "w") as f:
            f.write('{"path": "lte", "rsrp": -120}\n{"path": "lte", "rs')   # half a line
        assert await _until(lambda: lte.unreliable)
        with open(path, "a") as f:
            f.write('rp": -119}\n')
        assert await _until(lambda: feed.lines == 2)
        os.rename(path, str(path) + ".1")              # rotated: the new file is read
        with open(path, "w") as f:
            f.write('{"path": "lte", "rsrp": -95}\n')
        assert await _until(lambda: not lte.unreliable)
        task.cancel()

    asyncio.run(scenario())
    assert feed.bad_lines == 0


def test_follows_udp_datagrams():
    lte, wifi = Path("lte"), Path("wifi")
    feed = RadioFeed([lte, wifi])

    async def scenario():
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        task = asyncio.ensure_future(follow_metrics(f"udp://@127.0.0.1:{port}", feed))
        await asyncio.sleep(0.2)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        lines = [{"path": "lte", "rsrp": -121}, {"path": "wifi", "sinr": 20}]
        tx.sendto("\n".join(json.dumps(x) for x in lines).encode() + b"\nnot json",
                  ("127.0.0.1", port))
        assert await _until(lambda: feed.lines == 3)
        tx.close()
        task.cancel()

    asyncio.run(scenario())
    assert lte.unreliable and wifi.sinr == 20.0 and feed.bad_lines == 1

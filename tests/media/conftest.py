"""Shared media fixtures: real streams made by PyAV (our test source) and by ffmpeg's CLI."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from strata_roq.media.testsrc import TestSource


def _ffmpeg(args: list[str], out: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is not installed (bash .ci/run installs it)"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args, str(out)],
                   check=True, timeout=120)
    return out


@pytest.fixture(scope="session")
def ffmpeg_h264_ts(tmp_path_factory) -> Path:
    """H.264 with 2 B-frames, GOP 30, AAC audio, made by ffmpeg's CLI."""
    out = tmp_path_factory.mktemp("ff") / "h264.ts"
    return _ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "3", "-c:v", "libx264",
                    "-preset", "veryfast", "-g", "30", "-bf", "2", "-c:a", "aac", "-f", "mpegts"],
                   out)


@pytest.fixture(scope="session")
def ffmpeg_hevc_ts(tmp_path_factory) -> Path:
    """HEVC with B-frames (x265 defaults, closed GOP 30), made by ffmpeg's CLI."""
    out = tmp_path_factory.mktemp("ff") / "hevc.ts"
    return _ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                    "keyint=30:min-keyint=30:bframes=2:log-level=error", "-f", "mpegts"], out)


def _make_datagrams(frames: int = 90, **kwargs) -> tuple[list[bytes], TestSource]:
    """Datagrams of ``frames`` pictures from our PyAV test source (small, fast settings)."""
    options = dict(width=320, height=240, fps=30, bitrate=800_000, gop=30)
    options.update(kwargs)
    source = TestSource(**options)
    out: list[bytes] = []
    base = time.time_ns()
    for i in range(frames):
        out += source.encode_frame(base + i * 33_333_333)
    out += source.close()
    return out, source


@pytest.fixture(scope="session")
def pyav_h264_datagrams():
    return _make_datagrams(90, bframes=2)


def _datagrams_of(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [data[i:i + 1316] for i in range(0, len(data), 1316)]


@pytest.fixture(scope="session")
def make_datagrams():
    """make_datagrams(frames, **TestSource options) -> (datagrams, source)."""
    return _make_datagrams


@pytest.fixture(scope="session")
def datagrams_of():
    """datagrams_of(path) -> the file cut into 7x188-byte datagrams."""
    return _datagrams_of

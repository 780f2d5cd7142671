"""RIST to browser: testsrc → Strata send (RIST) → gateway → Debian's Chromium (Playwright,
headless, QUIC on) watching over WebTransport with WebCodecs."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.browser]

#: Chromium 156 gives every window (Playwright: every page) an omnibox popup rendered by two
#: WebUI renderers of its own, which took ~1 s of CPU each as a page opened: on two cores, the
#: moment a viewer starts (or a second joins) is when pictures fell 0.5-1 s behind. Headless
#: never shows an omnibox, so the flag only takes them away.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required",
                 "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,"
                 "WebUIOmniboxFullPopup"]
SNAPSHOT = """() => ({state: strata.state, error: strata.error, connectAt: strata.connectAt,
  firstPictureAt: strata.firstPictureAt, videoDecoded: strata.videoDecoded,
  audioDecoded: strata.audioDecoded, audioReceived: strata.audioReceived,
  latencies: strata.latencies.slice(), arrival: strata.arrivalLatencies.slice(),
  decoded: strata.decodedLatencies.slice(), submitted: strata.submittedLatencies.slice(), audioLag: strata.audioDecodeLagMs.slice(),
  audioDropped: strata.audioDropped, audioArrivalUnknown: strata.audioArrivalUnknown,
  audioOverdue: strata.audioOverdue, audioGaps: strata.audioGaps,
  clockRtt: strata.clockRttMs,
  rendered: strata.renderedIndices.slice(),
  catchup: strata.catchup, reset: strata.framesReset, av: strata.avOffsets.slice(),
  resyncs: strata.audioResyncs, lead: strata.audioLead, holds: strata.audioHolds,
  tightened: strata.audioTightened, skipped: strata.videoSkipped,
  output: strata.audioOutputMs.slice()})"""


@pytest.fixture
def browser():
    import os

    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("Debian's chromium is missing (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser, url):
    page = browser.new_page(ignore_https_errors=True, viewport={"width": 800, "height": 500})
    page.goto(url)
    return page


def _wait(page, predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        snap = page.evaluate(SNAPSHOT)
        if predicate(snap):
            return snap
        time.sleep(0.1)
    return page.evaluate(SNAPSHOT)


def test_rist_feed_plays_in_chromium(rig, browser):
    import json

    rist_port, media_port, web_port = rig.free_port(even=True), rig.free_port(), rig.free_port()
    gw = rig.start(rig.strata("gateway", "-i", f"rist://@127.0.0.1:{rist_port}", "--web",
                              f"127.0.0.1:{web_port}", "--token", "letmein", "--duration", "45",
                              "--cert-lifetime", "60s", "--renew-before", "44s"),
                   ready="gateway:")
    rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o",
                         f"rist://127.0.0.1:{rist_port}", "--duration", "40"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "36", "--size", "640x360", "--bitrate", "1.5M", "--gop", "60",
                               "-q"))
    time.sleep(1.5)
    base = f"https://127.0.0.1:{web_port}/"
    first_hash = json.loads(_page(browser, base).evaluate(
        "() => fetch('/api/info').then(r => r.text())"))["cert_sha256"]

    # A wrong token is refused (HTTP 403 before the session), not left hanging.
    intruder = _page(browser, base + "?token=guess")
    snap = _wait(intruder, lambda s: s["state"] == "refused", 8)
    assert snap["state"] == "refused", snap

    viewer = _page(browser, base + "?token=letmein")
    loaded = time.monotonic()
    snap = _wait(viewer, lambda s: s["videoDecoded"] >= 5, 5)
    assert snap["videoDecoded"] >= 5, snap
    canvas = viewer.locator("canvas")
    shot_a = canvas.screenshot()
    time.sleep(0.5)
    shot_b = canvas.screenshot()
    assert time.monotonic() - loaded < 6.5
    assert shot_a != shot_b, "the picture does not move"
    assert len(set(shot_a)) > 50, "blank canvas"

    time.sleep(6)                                   # mid-stream, a second viewer joins
    late = _page(browser, base + "?token=letmein")
    snap2 = _wait(late, lambda s: s["firstPictureAt"] is not None, 5)
    assert snap2["connectAt"] is not None and snap2["firstPictureAt"] is not None, snap2
    assert snap2["firstPictureAt"] - snap2["connectAt"] < 1000, snap2
    assert snap2["catchup"] > 0                     # started from the current GOP

    time.sleep(16)                                  # the certificate is renewed meanwhile
    snap = viewer.evaluate(SNAPSHOT)
    live = [i for i in snap["rendered"] if i != 0xFFFFFFFF]
    first = min(live)
    window = set(range(first + 30, first + 30 + 600))   # 20 s of video, after start-up
    got = window & set(live)
    assert len(got) >= 0.95 * len(window), (len(got), snap["reset"])
    _assert_latency(snap)
    assert snap["audioDecoded"] >= 0.95 * snap["audioReceived"] > 500, snap["audioDecoded"]
    _assert_lip_sync(snap)

    info = json.loads(viewer.evaluate("() => fetch('/api/info').then(r => r.text())"))
    assert info["cert_sha256"] != first_hash          # renewed ...
    before = viewer.evaluate("() => strata.videoDecoded")
    newcomer = _page(browser, base + "?token=letmein")  # ... new viewers get the new one
    assert _wait(newcomer, lambda s: s["videoDecoded"] > 5, 5)["videoDecoded"] > 5
    time.sleep(1)
    assert viewer.evaluate("() => strata.videoDecoded") > before + 20   # old viewer undisturbed
    assert viewer.evaluate("() => strata.state") == "connected"
    # The dashboard plots live stats (SSE feed, uPlot); Prometheus metrics are served.
    dash = browser.new_page(ignore_https_errors=True)
    dash.goto(base + "dashboard")
    dash.wait_for_function("() => window.dashboard && window.dashboard.updates >= 3",
                           timeout=10000)
    assert dash.locator(".uplot canvas").count() == 4     # totals ×3 + one line per viewer
    assert dash.locator("#viewers tbody tr").count() >= 3
    metrics = dash.evaluate("() => fetch('/metrics').then(r => r.text())")
    assert "strata_viewers 3.0" in metrics or "strata_viewers 4.0" in metrics, metrics[:500]
    src.finish(timeout=60)
    stats = rig.last_json(gw.finish(timeout=40)[1], "gateway")
    assert stats["web"]["certificate_renewals"] >= 1 and stats["web"]["refused_token"] >= 1
    assert stats["web"]["accepted"] >= 3


def _assert_latency(snap) -> None:
    """Glass to glass under 300 ms for 95 % of pictures after start-up, on a clock the page
    set right: no picture arrives before it was captured, by more than the page's clock
    exchange can be off (half its quickest round trip)."""
    lat, story = sorted(snap["latencies"][30:]), _latency_story(snap)
    assert lat and lat[int(0.95 * len(lat))] < 300, story
    assert min(snap["arrival"]) > -snap["clockRtt"] / 2 - 1, (snap["clockRtt"], story)


def _latency_story(snap) -> str:
    """What a latency check reports (printed every time; pytest cuts a long assertion
    message, not the captured output): the worst stretch after start-up in playing order,
    each picture's latency at paint, out of the decoder, into the decoder and at its arrival in
    the page (all high: late upstream; paint alone: waiting for the sound; from decode: the
    decoder was slow; from submit: waiting in the page), the
    player's moves, and the audio decoder's lag behind arrival (worst of every 50 frames)."""
    lat, dec, sub, arr = (snap[k] for k in ("latencies", "decoded", "submitted", "arrival"))
    worst = max(range(30, len(lat)), key=lat.__getitem__) if len(lat) > 30 else 0
    span = range(max(0, worst - 30), min(len(lat), worst + 10))
    triples = " ".join("/".join(f"{x[i]:.0f}" for x in (lat, dec, sub, arr) if i < len(x))
                       for i in span)
    moves = {k: snap[k] for k in ("lead", "resyncs", "holds", "tightened", "skipped", "reset",
                                  "audioDropped", "audioOverdue", "audioGaps",
                                  "audioArrivalUnknown")}
    out, lag = snap.get("output") or [], snap.get("audioLag") or []
    lags = " ".join(str(max(lag[i:i + 50])) for i in range(0, len(lag), 50))
    tail = sorted(lat[30:])
    p95 = f"{tail[int(0.95 * len(tail))]:.0f}" if tail else "-"
    story = (f"{len(lat)} pictures, p95 after start-up {p95} ms, worst #{worst}, least "
             f"arrival latency {min(arr, default=0):.1f} ms (clock exchange {snap['clockRtt']} ms); paint/decode/submit/"
             f"arrival latency (ms) from #{span.start}: {triples}; {moves}; audio decode lag (ms, "
             f"worst of 50 frames): {lags}; audio output latency (ms, every 0.5 s): "
             f"{' '.join(f'{x:.0f}' for x in out)}")
    print(story)
    return story


def _assert_lip_sync(snap) -> None:
    """Pictures are painted when their sound is heard: within 45 ms (ITU-R BT.1359's
    threshold of detectability for sound ahead of picture) for 95 % of them."""
    av = sorted(abs(x) for x in snap["av"][30:])
    assert len(av) > 200, snap["av"][:20]
    assert av[int(0.95 * len(av))] < 45, (av[-20:], _latency_story(snap))
    # the sound clock knows when each frame came (the decoders hand back timestamps 1 µs off)
    assert snap["audioArrivalUnknown"] <= 0.01 * snap["audioDecoded"], snap["audioArrivalUnknown"]


def test_av1_and_opus_feed_plays_in_sync(rig, browser):
    """testsrc with AV1 video (SVT-AV1, in TS as the AOM mapping specifies) and Opus audio
    straight into the gateway over UDP: the page decodes the AV1 temporal units and the bare
    Opus packets the gateway takes out of TS, and keeps the picture on the sound's clock. A
    second viewer watches in datagram mode (frames as WebTransport datagrams)."""
    import json

    media_port, web_port = rig.free_port(), rig.free_port()
    rig.start(rig.strata("gateway", "-i", f"udp://@127.0.0.1:{media_port}", "--web",
                         f"127.0.0.1:{web_port}", "--duration", "25"), ready="gateway:")
    rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration", "22",
                         "--size", "640x360", "--bitrate", "1M", "--audio", "opus",
                         "--codec", "av1", "-q"))
    time.sleep(1.0)
    viewer = _page(browser, f"https://127.0.0.1:{web_port}/")
    snap = _wait(viewer, lambda s: s["videoDecoded"] >= 5, 8)
    assert snap["videoDecoded"] >= 5, snap
    datagrams = _page(browser, f"https://127.0.0.1:{web_port}/?mode=datagram")
    info = viewer.evaluate("() => fetch('/api/info').then(r => r.json())")
    assert info["audio"] == {"codec": "opus", "sampleRate": 48000, "numberOfChannels": 2}
    assert info["video"]["codec"].startswith("av01.0."), info["video"]
    time.sleep(12)
    snap = viewer.evaluate(SNAPSHOT)
    assert snap["error"] is None, snap["error"]
    assert snap["audioDecoded"] >= 0.95 * snap["audioReceived"] > 500, snap["audioDecoded"]
    assert snap["videoDecoded"] > 300
    _assert_latency(snap)
    _assert_lip_sync(snap)
    # the page measures how late its sound is heard (pictures wait for it): a steady few
    # tens of ms in headless Chromium, never negative
    assert snap["output"] and all(0 <= x < 250 for x in snap["output"]), snap["output"]
    snap = datagrams.evaluate(SNAPSHOT)
    assert datagrams.evaluate("() => strata.mode") == "datagram"
    assert snap["error"] is None, snap["error"]
    # it starts from the current GOP too (its catch-up comes on streams), not the next key
    assert snap["catchup"] > 0 and snap["firstPictureAt"] - snap["connectAt"] < 1000, snap["skipped"]
    live = [i for i in snap["rendered"] if i != 0xFFFFFFFF]
    window = set(range(min(live) + 30, max(live)))
    assert len(window) > 250 and len(window & set(live)) >= 0.95 * len(window)
    assert snap["audioDecoded"] >= 0.95 * snap["audioReceived"] > 400, snap["audioDecoded"]
    _assert_latency(snap)
    stats = json.loads(datagrams.evaluate("() => fetch('/api/stats').then(r => r.text())"))
    modes = [v["datagrams_sent"] > 0 for v in stats["per_viewer"]]
    assert sorted(modes) == [False, True], stats["per_viewer"]

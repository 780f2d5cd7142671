"""The demo's live terminal view: per-path rate (delivered, and what the sender's pacing gives
the path), RTT and loss from the bonded sender's stats,
on-time ratio and latency from the probe's. Pure functions of those stats (testable); the
caller decides whether to redraw in place (a terminal) or append (a log)."""

from __future__ import annotations


def render(elapsed: float, sent_frames: int, due_frames: int, send: dict | None,
           probe: dict | None, budget_ms: int) -> list[str]:
    """``due_frames``: frames sent longer than the budget ago (the on-time denominator)."""
    video = (probe or {}).get("video", {})
    lat = (probe or {}).get("latency_ms", {})
    on_time = (probe or {}).get("within_ms", {}).get(str(budget_ms), 0)
    ratio = f"{min(1.0, on_time / due_frames):6.1%}" if due_frames else "     -"
    lines = [f"{elapsed:5.0f}s  sent {sent_frames:5d} frames  received {video.get('frames', 0):5d}"
             f"  on time (<= {budget_ms} ms) {ratio}  latency p50 {_ms(lat.get('p50'))}"
             f" p99 {_ms(lat.get('p99'))}  missing {video.get('missing_frames', 0)}"]
    lines.append(f"  {'path':<8} {'state':<6} {'Mbit/s':>6} {'pace':>6} {'RTT ms':>7} "
                 f"{'loss':>6} {'sent':>7} {'alone':>7} {'deaths':>6}")
    for p in (send or {}).get("paths", []):
        state = "up" if p.get("alive") else "DOWN"
        if p.get("weak_signal"):
            state = "weak"
        rtt, pace = p.get("srtt_ms"), p.get("pacing_mbps")
        lines.append(f"  {p['name'][:8]:<8} {state:<6} {p.get('rate_mbps', 0):6.2f} "
                     f"{'-' if pace is None else f'{pace:.2f}':>6} "
                     f"{'-' if rtt is None else f'{rtt:.0f}':>7} {p.get('loss', 0):6.1%} "
                     f"{p.get('sent', 0):7d} {p.get('sole_copies', 0):7d} {p.get('deaths', 0):6d}")
    decisions = (send or {}).get("decisions", {})
    if decisions:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(decisions.items()) if v)
        cc = (send or {}).get("cc")
        lines.append(f"  scheduler: {shown}" + (f"  (pacing: {cc})" if cc else ""))
    return lines


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"

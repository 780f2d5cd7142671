"""The gateway core: TS datagrams in, every viewer's frames out (sans-I/O).

Keeps the current GOP (video since the last key frame, bounded) so a viewer who joins gets
a key frame at once — only its reference pictures: one nothing references (a disposable
B-frame, AV1's top temporal layer) is not needed to decode what follows, and every picture
of the catch-up is decoded before the viewer sees live (the AV1 test source's catch-up is
half as long so). Fans each new frame out to every viewer's :class:`ViewerSession` with
a deadline of arrival + ``latency``. Viewers are independent: each one's backlog, skips and
resets are its own.
"""

from __future__ import annotations

from strata_roq.wt.extract import FrameExtractor
from strata_roq.wt.viewer import ViewerSession
from strata_roq.wt.wire import AUDIO, WebFrame

MAX_GOP_FRAMES = 600


class Gateway:
    def __init__(self, latency: float = 0.5) -> None:
        self.latency = latency
        self.extractor = FrameExtractor()
        self.gop: list[WebFrame] = []         # the current GOP's key and reference pictures
        self.gop_next: int | None = None      # index of the video frame the GOP takes next
        self.viewers: dict[object, ViewerSession] = {}
        self.joined = 0
        self.left = 0

    def feed(self, datagram: bytes, now: float) -> list[ViewerSession]:
        """Returns the viewers that got something (the caller transmits for them)."""
        frames = self.extractor.feed(datagram, now)
        return self.publish(frames, now) if frames else []

    def publish(self, frames: list[WebFrame], now: float) -> list[ViewerSession]:
        """Frames taken out of the feed: into the GOP kept for joiners, out to every viewer."""
        for f in frames:
            if f.kind == AUDIO:
                continue
            if f.key:
                self.gop, self.gop_next = [f], f.index + 1
            elif self.gop and f.index == self.gop_next:
                if f.reference:
                    if len(self.gop) >= MAX_GOP_FRAMES:
                        continue    # full: the catch-up ends here (the page waits for a key)
                    self.gop.append(f)
                self.gop_next = f.index + 1
        deadline = now + self.latency
        for viewer in self.viewers.values():
            for f in frames:
                viewer.send(f, deadline, now)
        return list(self.viewers.values())

    def add_viewer(self, key, viewer: ViewerSession, now: float) -> None:
        # The catch-up leaves disposable pictures out, so its indices would have gaps — which
        # the page reads as losses. The viewer numbers its frames without them instead.
        base = self.gop[0].index if self.gop else 0
        for i, f in enumerate(self.gop):
            viewer.index_shift = f.index - (base + i)
            viewer.send(f, now + self.latency, now, catchup=True)
        if self.gop:
            end = self.gop_next if self.gop_next is not None else self.gop[-1].index + 1
            viewer.index_shift = end - (base + len(self.gop))
        self.viewers[key] = viewer
        self.joined += 1
        viewer.number = self.joined          # a stable label for dashboards

    def remove_viewer(self, key) -> None:
        if self.viewers.pop(key, None) is not None:
            self.left += 1

    def expire(self, now: float) -> list[ViewerSession]:
        return [v for v in self.viewers.values() if v.expire(now)]

    def info(self) -> dict:
        ex = self.extractor
        return {"video": {"codec": ex.video_codec} if ex.video_codec else None,
                "audio": ex.audio, "frames": {"video": ex.video_frames, "audio": ex.audio_frames,
                                              "damaged": ex.damaged}}

    def stats(self) -> dict:
        return {**self.info(), "viewers": len(self.viewers), "joined": self.joined,
                "left": self.left,
                "per_viewer": [{"viewer": getattr(v, "number", 0), **v.stats.as_dict()}
                               for v in self.viewers.values()]}

"""The gateway core: TS datagrams in, every viewer's frames out (sans-I/O).

Keeps the current GOP (video since the last key frame, bounded) so a viewer who joins gets
a key frame at once; fans each new frame out to every viewer's :class:`ViewerSession` with
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
        self.gop: list[WebFrame] = []
        self.viewers: dict[object, ViewerSession] = {}
        self.joined = 0
        self.left = 0

    def feed(self, datagram: bytes, now: float) -> list[ViewerSession]:
        """Returns the viewers that got something (the caller transmits for them)."""
        frames = self.extractor.feed(datagram, now)
        if not frames:
            return []
        for f in frames:
            if f.kind != AUDIO:
                if f.key:
                    self.gop = [f]
                elif self.gop and len(self.gop) < MAX_GOP_FRAMES:
                    self.gop.append(f)
        deadline = now + self.latency
        for viewer in self.viewers.values():
            for f in frames:
                viewer.send(f, deadline, now)
        return list(self.viewers.values())

    def add_viewer(self, key, viewer: ViewerSession, now: float) -> None:
        for f in self.gop:
            viewer.send(f, now + self.latency, now, catchup=True)
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

"""Whether a delivered H.264 picture can be decoded *correctly*: are all its references there?

A decoder given a picture whose reference was lost does not fail — FFmpeg conceals the gap
and outputs a frame, not even flagged corrupt — so "it decoded" proves little. H.264 makes
the loss visible: with ``gaps_in_frame_num_value_allowed_flag`` off (every common encoder),
each picture's ``frame_num`` is the previous *reference* picture's plus one (§7.4.3), and an
IDR restarts it. A jump means a reference picture is missing, and everything up to the next
IDR predicts from it. Dropping non-reference pictures never makes a jump: that is why layer
thinning keeps a stream valid.
"""

from __future__ import annotations

from strata_roq.media.nal import AccessUnitInfo, FrameKind


class ReferenceChain:
    def __init__(self) -> None:
        self.prev_ref: int | None = None     # frame_num of the last reference picture
        self.broken = True                   # no IDR yet, or a reference went missing
        self.gaps = 0                        # frame_num jumps seen
        self.damaged = 0                     # pictures checked whose references were missing
        self.checked = 0

    def check(self, info: AccessUnitInfo, damaged: bool = False) -> bool | None:
        """True: this picture and all its references arrived whole; False: not; None: not
        checkable (no frame_num: not H.264, or its SPS not seen yet). ``damaged``: the
        picture itself lost part of its data (a continuity gap) — if others predict from it,
        they inherit the damage until the next IDR."""
        if info.frame_num is None or not info.max_frame_num:
            return None
        self.checked += 1
        if info.kind is FrameKind.IDR:
            self.broken = False
        elif self.prev_ref is not None and info.frame_num != (self.prev_ref + 1) % info.max_frame_num:
            self.gaps += 1
            self.broken = True
            # resynchronise on the reference this picture implies, so one loss is one gap
            self.prev_ref = (info.frame_num - 1) % info.max_frame_num
        if info.reference:
            self.prev_ref = info.frame_num
        whole = not self.broken and not damaged
        if damaged and info.reference:
            self.broken = True
        if not whole:
            self.damaged += 1
        return whole

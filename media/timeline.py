"""Keeping media timestamps moving forward when the source of a stream changes."""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction


class ContinuousTimeline:
    """Maps the pts of successive sources onto one timeline that never goes backwards.

    Each new peer connection of a party restarts its timestamps at 0 (aiortc rebases
    them); the browser at the other end would see RTP timestamps jump backwards and
    its jitter buffer would stall or drop. On a source change the new source is
    placed after the last output by the wall-clock time that passed, so audio and
    video of a party stay in step and a recording shows the real length of a gap.
    """

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self._source: Hashable | None = None
        self._offset = 0
        self._last_out: int | None = None
        self._last_wall = 0.0
        self.source_changes = 0

    @classmethod
    def for_time_base(cls, time_base: Fraction) -> ContinuousTimeline:
        return cls(time_base.denominator // max(1, time_base.numerator))

    def map(self, source: Hashable, pts: int, now: float) -> int:
        if self._last_out is None:
            self._source = source
            self._offset = -pts
        elif source != self._source:
            gap = max(1, round((now - self._last_wall) * self.clock_rate))
            self._offset = self._last_out + gap - pts
            self._source = source
            self.source_changes += 1
        out = pts + self._offset
        if self._last_out is not None and out <= self._last_out:
            # Reordered or repeated input within one source: never emit a timestamp
            # at or before the previous one.
            out = self._last_out + 1
        self._last_out = out
        self._last_wall = now
        return out

    @property
    def last(self) -> int | None:
        return self._last_out

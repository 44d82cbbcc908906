"""When a participant's call quality goes into the audit log.

A weak mobile link flaps between `good`, `fair` and `poor` many times a minute. The other side
sees every change at once (presence events); the permanent log needs what an auditor asks —
was the call degraded, when, how often — not a copy per flap. So a change is written at once
only when no quality entry of this participant was written in the last `interval` seconds;
changes within it are counted and the next entry carries their number (`changes`), and
whatever is still counted when the participant leaves or the consult ends is written then.
The sum of `changes` over a participant's entries is the number of changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUALITY_AUDIT_INTERVAL_SECONDS = 30.0


@dataclass
class QualityTrail:
    """One participant's quality changes not yet written, and when the last entry was."""

    interval: float = QUALITY_AUDIT_INTERVAL_SECONDS
    written_at: float | None = None
    unwritten: int = 0
    quality: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def change(self, quality: str, detail: dict[str, Any], now: float) -> dict[str, Any] | None:
        """The entry's details if this change is written now, else None (it is counted)."""
        self.unwritten += 1
        self.quality, self.detail = quality, detail
        if self.written_at is not None and now - self.written_at < self.interval:
            return None
        return self._written(now)

    def pending(self, now: float) -> dict[str, Any] | None:
        """The entry's details for the changes still counted (leaving, end), if any."""
        return self._written(now) if self.unwritten else None

    def _written(self, now: float) -> dict[str, Any]:
        details = {"quality": self.quality, "detail": self.detail, "changes": self.unwritten}
        self.written_at, self.unwritten = now, 0
        return details

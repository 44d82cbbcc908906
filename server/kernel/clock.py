"""The one source of "now": real by default, fixed or moved in tests (retention, expiry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass
class Clock:
    """UTC instants, and calendar dates in the hospital's time zone (ages, eligibility)."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(self.timezone).date()

    def advance(self, delta: timedelta) -> None:
        """Only for a fixed clock (tests): move time forward."""
        if self.fixed is None:
            raise RuntimeError("advance() needs a fixed clock")
        self.fixed += delta

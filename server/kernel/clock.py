"""The one source of "now": real by default, fixed or moved in tests (retention, expiry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def calendar_date(moment: datetime, zone: ZoneInfo) -> date:
    """The hospital's calendar day of an instant: every calendar rule (ages, birthdays,
    eligibility, the pilot's dates) reads days through this, never `datetime.date()`, which
    would give the UTC day (until 08:00 in Beijing, yesterday)."""
    return moment.astimezone(zone).date()


@dataclass
class Clock:
    """UTC instants, and calendar dates in the hospital's time zone (ages, eligibility)."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)

    def today(self) -> date:
        return calendar_date(self.now(), self.timezone)

    def date_of(self, moment: datetime) -> date:
        return calendar_date(moment, self.timezone)

    def advance(self, delta: timedelta) -> None:
        """Only for a fixed clock (tests): move time forward."""
        if self.fixed is None:
            raise RuntimeError("advance() needs a fixed clock")
        self.fixed += delta

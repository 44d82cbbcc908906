"""Height velocity (cm/year) between measurements.

Minimum interval: 91 days (~3 months).  Why: a length/height measurement has
a technical error of roughly 0.3-0.5 cm, so the difference of two has an SD of
about 0.5-0.7 cm.  Annualised, that noise is about ±7 cm/year over one month,
±2.5 cm/year over three months and ±1.2 cm/year over six months, while a
school child grows only 5-6 cm/year; short intervals also pick up seasonal
variation in growth.  Three months is the shortest interval that still says
something in infancy (when velocity is high); intervals under six months are
marked ``short_interval`` so the page can say "interpret with caution".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from .reference import DAYS_PER_MONTH

Position = Literal["recumbent", "standing"]

MIN_INTERVAL_DAYS = 91
# Below this the interval is usable but the annualised value is noisy.
RELIABLE_INTERVAL_DAYS = 182
# Standing height is on average 0.7 cm less than recumbent length (WHO 2006).
LENGTH_MINUS_HEIGHT_CM = 0.7
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class HeightPoint:
    date: date
    age_days: int
    height_cm: float  # as measured (not adjusted)
    position: Position


@dataclass(frozen=True, slots=True)
class HeightVelocity:
    from_date: date
    to_date: date
    from_age_months: float
    to_age_months: float
    interval_days: int
    gain_cm: float
    velocity_cm_per_year: float
    # Non-zero when one end was measured lying and the other standing: the
    # earlier value is converted to the later one's position (±0.7 cm) so the
    # change of position is not counted as growth (or shrinkage).
    position_adjustment_cm: float
    short_interval: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "from_date": self.from_date.isoformat(),
            "to_date": self.to_date.isoformat(),
            "from_age_months": self.from_age_months,
            "to_age_months": self.to_age_months,
            "interval_days": self.interval_days,
            "gain_cm": self.gain_cm,
            "velocity_cm_per_year": self.velocity_cm_per_year,
            "position_adjustment_cm": self.position_adjustment_cm,
            "short_interval": self.short_interval,
        }


def _velocity(a: HeightPoint, b: HeightPoint) -> HeightVelocity:
    adjustment = 0.0
    if a.position != b.position:
        adjustment = (
            -LENGTH_MINUS_HEIGHT_CM if a.position == "recumbent" else (LENGTH_MINUS_HEIGHT_CM)
        )
    days = (b.date - a.date).days
    gain = b.height_cm - (a.height_cm + adjustment)
    return HeightVelocity(
        from_date=a.date,
        to_date=b.date,
        from_age_months=round(a.age_days / DAYS_PER_MONTH, 2),
        to_age_months=round(b.age_days / DAYS_PER_MONTH, 2),
        interval_days=days,
        gain_cm=round(gain, 2),
        velocity_cm_per_year=round(gain / days * DAYS_PER_YEAR, 1),
        position_adjustment_cm=adjustment,
        short_interval=days < RELIABLE_INTERVAL_DAYS,
    )


def height_velocities(
    points: Sequence[HeightPoint], min_interval_days: int = MIN_INTERVAL_DAYS
) -> list[HeightVelocity]:
    """Velocities over consecutive, non-overlapping intervals of at least
    ``min_interval_days``.

    Walks the measurements in date order from the first; a measurement closer
    than the minimum to the current start is skipped (not averaged in), and
    the next one far enough away closes the interval and starts the next.
    """
    if min_interval_days < 1:
        raise ValueError("min_interval_days must be at least 1")
    ordered = sorted(points, key=lambda p: p.date)
    result: list[HeightVelocity] = []
    if not ordered:
        return result
    start = ordered[0]
    for point in ordered[1:]:
        if (point.date - start.date).days >= min_interval_days:
            result.append(_velocity(start, point))
            start = point
    return result

"""Percentile curves (3rd, 15th, 50th, 85th, 97th) computed from L, M, S.

Curves are split into segments wherever the reference itself changes, so a
chart never draws a line across a discontinuity as if it were growth:
- at 731 days for length/height-for-age and BMI-for-age (recumbent length
  before, standing height after: the WHO median drops by ~0.7 cm there);
- between day 1856 (WHO 2006) and 61 months (WHO 2007), the 5-year seam.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from .lms import CHART_PERCENTILES, value_at_z
from .reference import (
    DAYS_PER_MONTH,
    HEIGHT_FROM_DAY,
    LENHEI_RANGE_CM,
    WHO2006_LAST_DAY,
    WHO2007_FIRST_MONTH,
    WHO2007_LAST_MONTH,
    AgeIndicator,
    LenHeiTable,
    Sex,
    lms_for_age,
    lms_for_lenhei,
)

ChartIndicator = Literal["lhfa", "wfa", "bmifa", "hcfa", "wfl", "wfh"]
CHART_INDICATORS: tuple[ChartIndicator, ...] = ("lhfa", "wfa", "bmifa", "hcfa", "wfl", "wfh")

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class PercentileCurve:
    percentile: int
    z: float
    # Each segment is a list of (x, y); x in months (age charts) or cm.
    segments: tuple[tuple[Point, ...], ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "percentile": self.percentile,
            "z": self.z,
            "segments": [[list(p) for p in seg] for seg in self.segments],
        }


def age_range_months(indicator: ChartIndicator) -> tuple[float, float]:
    """The ages (months) the references cover for an age-based indicator."""
    if indicator == "hcfa":
        return 0.0, WHO2006_LAST_DAY / DAYS_PER_MONTH
    if indicator in ("lhfa", "wfa", "bmifa"):
        return 0.0, float(WHO2007_LAST_MONTH[indicator])
    raise ValueError(f"{indicator} is not an age-based indicator")


def _age_segments(indicator: AgeIndicator, from_days: float, to_days: float) -> list[list[float]]:
    """Sample ages (days) for each continuous piece of the reference."""
    pieces: list[tuple[float, float, float]] = []  # (start, end, step) in days
    breaks_2006: list[tuple[float, float]] = []
    if indicator in ("lhfa", "bmifa"):
        breaks_2006 = [(0, HEIGHT_FROM_DAY - 1), (HEIGHT_FROM_DAY, WHO2006_LAST_DAY)]
    else:
        breaks_2006 = [(0, WHO2006_LAST_DAY)]
    span = max(to_days - from_days, 1.0)
    # ~250 points across the whole chart, never finer than a day.
    step_2006 = max(1.0, span / 250)
    for start, end in breaks_2006:
        pieces.append((start, end, step_2006))
    if indicator != "hcfa":
        start_2007 = WHO2007_FIRST_MONTH * DAYS_PER_MONTH
        end_2007 = WHO2007_LAST_MONTH[indicator] * DAYS_PER_MONTH
        # The WHO 2007 rows are monthly and interpolated linearly between
        # months, so one point per month (or fewer on long charts) is exact.
        step_2007 = DAYS_PER_MONTH * max(1, math.floor(span / 250 / DAYS_PER_MONTH))
        pieces.append((start_2007, end_2007, step_2007))

    segments: list[list[float]] = []
    for start, end, step in pieces:
        lo, hi = max(start, from_days), min(end, to_days)
        if lo > hi:
            continue
        ages = [lo]
        # The curves bend sharply in the first weeks (weight and BMI fall then
        # rise): sample the first 8 weeks ~8 times finer than the rest.
        if start == 0 and step > 1:
            fine = max(1.0, step / 8)
            t = lo + fine
            while t < min(hi, 56):
                ages.append(t)
                t += fine
            lo = max(lo, ages[-1])
        t = math.floor(lo / step) * step + step
        while t < hi:
            ages.append(t)
            t += step
        if hi > ages[-1]:
            ages.append(hi)
        segments.append(ages)
    return segments


def percentile_curves(
    indicator: ChartIndicator,
    sex: Sex,
    x_from: float,
    x_to: float,
    percentiles: Sequence[tuple[int, float]] = CHART_PERCENTILES,
) -> list[PercentileCurve]:
    """Percentile curves for ``indicator`` between ``x_from`` and ``x_to``.

    For the age-based indicators (lhfa, wfa, bmifa, hcfa) x is age in months;
    for wfl / wfh it is length / height in cm.  Points are (x, value at z).
    """
    if x_to <= x_from:
        raise ValueError("x_to must be greater than x_from")
    xs_segments: list[list[float]] = []
    lms_segments = []
    if indicator in ("wfl", "wfh"):
        table: LenHeiTable = indicator
        lo, hi = LENHEI_RANGE_CM[table]
        lo, hi = max(lo, x_from), min(hi, x_to)
        if lo <= hi:
            step = 0.5 if hi - lo > 30 else 0.1
            count = round((hi - lo) / step)
            xs = [round(lo + i * step, 1) for i in range(count + 1)]
            if xs[-1] < hi:
                xs.append(hi)
            found = [(x, lms_for_lenhei(table, sex, x)) for x in xs]
            xs_segments.append([x for x, p in found if p is not None])
            lms_segments.append([p.lms for _, p in found if p is not None])
    else:
        age_ind = cast(AgeIndicator, indicator)
        cover_from, cover_to = age_range_months(indicator)
        from_days = max(x_from, cover_from) * DAYS_PER_MONTH
        to_days = min(x_to, cover_to) * DAYS_PER_MONTH
        for ages in _age_segments(age_ind, from_days, to_days):
            refs = [lms_for_age(age_ind, sex, a) for a in ages]
            kept = [(a, r) for a, r in zip(ages, refs, strict=True) if r is not None]
            if not kept:
                continue
            # Daily WHO 2006 rows: plot at the row's own day so the curve is
            # exactly the table; WHO 2007: at the exact (interpolated) age.
            xs_segments.append(
                [round(r.x / DAYS_PER_MONTH if r.x_unit == "day" else r.x, 4) for _, r in kept]
            )
            lms_segments.append([r.lms for _, r in kept])

    curves = []
    for pct, z in percentiles:
        segments = tuple(
            tuple((x, round(value_at_z(z, lms), 3)) for x, lms in zip(xs, lmss, strict=True))
            for xs, lmss in zip(xs_segments, lms_segments, strict=True)
            if xs
        )
        curves.append(PercentileCurve(pct, z, segments))
    return curves

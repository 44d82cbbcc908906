"""Chart data: exactly the JSON that ``static/js/growth-chart.js`` draws.

The page fetches this and calls ``renderGrowthChart(container, chartData, options)``;
the JS does no growth arithmetic at all.  Schema (``schema`` =
``shouzhen.growth-chart.v1``)::

    {
      "schema": "shouzhen.growth-chart.v1",
      "indicator": "lhfa" | "wfa" | "bmifa" | "hcfa" | "wfl" | "wfh",
      "sex": "male" | "female",
      "title_en": str, "title_zh": str,
      "x": {"quantity": "age" | "length" | "height", "unit": "month" | "year" | "cm",
            "min": num, "max": num, "ticks": [num]},
      "y": {"quantity": "length_height" | "weight" | "bmi" | "head_circumference",
            "unit": "cm" | "kg" | "kg/m²", "min": num, "max": num, "ticks": [num]},
      "curves": [{"percentile": 3, "z": -1.881, "segments": [[[x, y], ...], ...]}, ...],
      "points": [{"x", "y", "y_plot", "clamped", "date", "age_text_en", "age_text_zh",
                  "status", "z", "percentile", "flags": [code]}],     # in date order
          # y is the measured value; y_plot is where to draw it (y clamped to the
          # chart for an implausible value far off the curves)
      "target_band": null | {"x_from", "x_to", "y_low", "y_target", "y_high",
                             "label_en", "label_zh"},
      "standards": [{"id", "name", "version", "citation"}],
      "table_package": {"name", "version"},
      "notes": [{"code", "en", "zh"}]
    }

All x values are already in ``x.unit`` (months or years for age charts, cm for
weight-for-length/height), so the JS only scales.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

from .assess import GrowthAssessment
from .curves import CHART_INDICATORS, ChartIndicator, age_range_months, percentile_curves
from .indicators import Indicator
from .reference import (
    DAYS_PER_MONTH,
    LENHEI_RANGE_CM,
    WHO2006_LAST_DAY,
    WHO2007_FIRST_MONTH,
    WHO_2006,
    WHO_2007,
    Sex,
    table_package,
)
from .target import ADULT_AGES_MONTHS, TargetHeight

SCHEMA = "shouzhen.growth-chart.v1"

_TITLES: Mapping[ChartIndicator, tuple[str, str]] = {
    "lhfa": ("Length/height-for-age", "身长/身高-年龄"),
    "wfa": ("Weight-for-age", "体重-年龄"),
    "bmifa": ("BMI-for-age", "BMI-年龄"),
    "hcfa": ("Head circumference-for-age", "头围-年龄"),
    "wfl": ("Weight-for-length", "体重-身长"),
    "wfh": ("Weight-for-height", "体重-身高"),
}
_Y: Mapping[ChartIndicator, tuple[str, str]] = {
    "lhfa": ("length_height", "cm"),
    "wfa": ("weight", "kg"),
    "bmifa": ("bmi", "kg/m²"),
    "hcfa": ("head_circumference", "cm"),
    "wfl": ("weight", "kg"),
    "wfh": ("weight", "kg"),
}
# Standard chart windows (months), smallest first: the default picks the
# smallest one holding every measurement, like the WHO chart sets.
_WINDOWS: tuple[tuple[float, float], ...] = (
    (0, 6),
    (0, 24),
    (0, 60),
    (24, 60),
    (60, 120),
    (60, 228),
    (0, 120),
    (0, 228),
)
# Longest age span still labelled in months; longer charts use years.
MONTHS_AXIS_MAX_SPAN = 60


def nice_ticks(
    lo: float, hi: float, target: int = 7, steps: tuple[float, ...] = (1, 2, 2.5, 5)
) -> list[float]:
    """Round-numbered ticks covering [lo, hi], about ``target`` of them."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / target
    power = 10 ** math.floor(math.log10(raw))
    # The round step closest (on a log scale) to the raw step.
    step = min((s * power for s in (*steps, 10)), key=lambda s: abs(math.log(s / raw)))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + 1e-9:
        ticks.append(round(t, 6))
        t += step
    return ticks


def _month_ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next(s for s in (1, 2, 3, 6, 12) if span / s <= 12)
    first = math.ceil(lo / step - 1e-9) * step
    return [float(t) for t in range(int(first), math.floor(hi + 1e-9) + 1, step)]


def suggest_age_range(
    indicator: ChartIndicator, ages_months: list[float], with_target: bool = False
) -> tuple[float, float]:
    """Smallest standard window (months) holding all ``ages_months``.

    With a target height on a height chart of a child aged 2 years or more,
    the window runs to 19 years so the target band (drawn at 18-19 years) is
    on the chart.  Under 2 years the infant window is kept: squeezing the
    first months into a 0-19 year axis would hide what matters then (and the
    chart data carries a note that the band is off the chart)."""
    cover_lo, cover_hi = age_range_months(indicator)
    if with_target and indicator == "lhfa" and ages_months and max(ages_months) >= 24:
        start = 0.0 if min(ages_months) < 24 else 24.0
        return start, cover_hi
    if not ages_months:
        return 0.0, min(60.0, cover_hi)
    lo, hi = min(ages_months), max(ages_months)
    for w_lo, w_hi in _WINDOWS:
        if w_lo <= lo and hi <= w_hi and w_hi <= cover_hi + 1:
            return w_lo, min(w_hi, cover_hi)
    return cover_lo, cover_hi


def _points(
    indicator: ChartIndicator,
    assessment: GrowthAssessment,
    x_scale: float,
    x_lo: float,
    x_hi: float,
) -> list[dict[str, Any]]:
    result_key: Indicator = "wflh" if indicator in ("wfl", "wfh") else cast(Indicator, indicator)
    points = []
    for m in assessment.measurements:  # already in date order
        r = m.results.get(result_key)
        if r is None or r.status == "not_applicable" or r.value is None:
            continue
        if indicator in ("wfl", "wfh"):
            table_name = "weight-for-length" if indicator == "wfl" else "weight-for-height"
            if r.reference is None or table_name not in r.reference["table"]:
                continue
            x, y = m.standardised_height_cm, r.value
        else:
            # A preterm child's point sits at the corrected age its z-score was read at.
            x, y = m.scoring_age_days / DAYS_PER_MONTH, r.value
        if x is None or not x_lo - 1e-9 <= x <= x_hi + 1e-9:
            continue
        points.append(
            {
                "x": round(x / x_scale, 4),
                "y": y,
                "date": m.date.isoformat(),
                "age_text_en": m.age_text_en,
                "age_text_zh": m.age_text_zh,
                "corrected_age_text_en": m.corrected_age_text_en,
                "corrected_age_text_zh": m.corrected_age_text_zh,
                "status": r.status,
                "z": r.z,
                "percentile": r.percentile,
                "flags": [f.code for f in r.flags],
            }
        )
    return points


def build_chart_data(
    indicator: ChartIndicator,
    sex: Sex,
    *,
    assessment: GrowthAssessment | None = None,
    x_range: tuple[float, float] | None = None,
    target: TargetHeight | None = None,
) -> dict[str, Any]:
    """Chart JSON for one indicator.

    ``x_range``: months for age charts, cm for ``wfl``/``wfh``; by default the
    smallest standard window holding the child's measurements.  ``target``
    defaults to the assessment's target height; the band is drawn at 18-19
    years on height-for-age charts whose range reaches 18 years.
    """
    if indicator not in CHART_INDICATORS:
        raise ValueError(f"unknown chart indicator {indicator!r}")
    if assessment is not None and assessment.sex != sex:
        raise ValueError("assessment is for the other sex")
    if target is None and assessment is not None:
        target = assessment.target
    notes: list[dict[str, str]] = []

    if indicator in ("wfl", "wfh"):
        lo, hi = x_range or LENHEI_RANGE_CM[indicator]
        x_scale, x_unit = 1.0, "cm"
        x_quantity = "length" if indicator == "wfl" else "height"
        standards = [WHO_2006.to_dict()]
    else:
        if x_range is None:
            ages = (
                [
                    m.scoring_age_days / DAYS_PER_MONTH
                    for m in assessment.measurements
                    if indicator in m.results
                ]
                if assessment is not None
                else []
            )
            x_range = suggest_age_range(indicator, ages, with_target=target is not None)
        lo, hi = x_range
        cover_lo, cover_hi = age_range_months(indicator)
        lo, hi = max(lo, cover_lo), min(hi, cover_hi)
        x_quantity = "age"
        if hi - lo <= MONTHS_AXIS_MAX_SPAN:
            x_scale, x_unit = 1.0, "month"
        else:
            x_scale, x_unit = 12.0, "year"
        standards = []
        if lo <= WHO2006_LAST_DAY / DAYS_PER_MONTH:
            standards.append(WHO_2006.to_dict())
        if hi >= WHO2007_FIRST_MONTH:
            standards.append(WHO_2007.to_dict())
        if lo < WHO2007_FIRST_MONTH <= hi:
            notes.append(
                {
                    "code": "reference_seam",
                    "en": "Curves change from the WHO 2006 standards to the WHO 2007 reference "
                    "at 5 years.",
                    "zh": "曲线在5岁处由WHO 2006标准切换为WHO 2007参考值。",
                }
            )
        if indicator in ("lhfa", "bmifa") and lo < 24 < hi:
            notes.append(
                {
                    "code": "length_to_height",
                    "en": "At 2 years the curves change from recumbent length to standing height "
                    "(about 0.7 cm lower).",
                    "zh": "2岁处曲线由卧位身长切换为立位身高（约低0.7 cm）。",
                }
            )
    if hi <= lo:
        raise ValueError(f"empty chart range {lo}-{hi} for {indicator}")

    curves = percentile_curves(indicator, sex, lo, hi)
    curve_dicts = []
    for c in curves:
        d = c.to_dict()
        d["segments"] = [[[round(x / x_scale, 4), y] for x, y in seg] for seg in c.segments]
        curve_dicts.append(d)
    points = _points(indicator, assessment, x_scale, lo, hi) if assessment else []

    band: dict[str, Any] | None = None
    if target is not None and indicator == "lhfa":
        if hi >= ADULT_AGES_MONTHS[0]:
            band = {
                "x_from": round(ADULT_AGES_MONTHS[0] / x_scale, 4),
                "x_to": round(min(ADULT_AGES_MONTHS[1], hi) / x_scale, 4),
                "y_low": target.range_low_cm,
                "y_target": target.target_cm,
                "y_high": target.range_high_cm,
                "label_en": "Target height (mid-parental ±8.5 cm)",
                "label_zh": "遗传靶身高（父母身高中值 ±8.5 cm）",
            }
        else:
            notes.append(
                {
                    "code": "target_off_chart",
                    "en": "The target height band is drawn at 18-19 years; extend the age range "
                    "to see it.",
                    "zh": "遗传靶身高范围画在18-19岁处，请扩大年龄范围查看。",
                }
            )

    ys = [y for c in curves for seg in c.segments for _, y in seg]
    if band:
        ys += [band["y_low"], band["y_high"]]
    # Plausible points always fit on the chart.  An implausible one (e.g. 95 kg
    # typed for 9.5 kg) must not squash the curves: if it lies far outside the
    # curves it is drawn clamped to the chart edge ("clamped": true).
    curve_lo, curve_hi = min(ys), max(ys)
    slack = (curve_hi - curve_lo) * 0.25
    for p in points:
        if p["status"] == "ok" or curve_lo - slack <= p["y"] <= curve_hi + slack:
            ys.append(p["y"])
    y_lo, y_hi = min(ys), max(ys)
    pad = (y_hi - y_lo) * 0.04 or 1.0
    y_ticks = nice_ticks(y_lo - pad, y_hi + pad)
    if len(y_ticks) > 1:
        # Start and end the axis on a tick: easier to read on a small screen.
        step = y_ticks[1] - y_ticks[0]
        y_min = math.floor((y_lo - pad) / step + 1e-9) * step
        y_max = math.ceil((y_hi + pad) / step - 1e-9) * step
        y_ticks = [round(y_min + i * step, 6) for i in range(round((y_max - y_min) / step) + 1)]
    else:
        y_min, y_max = y_lo - pad, y_hi + pad
    for p in points:
        p["clamped"] = not y_min <= p["y"] <= y_max
        p["y_plot"] = min(max(p["y"], y_min), y_max)
    x_min, x_max = round(lo / x_scale, 4), round(hi / x_scale, 4)
    if x_unit == "month":
        x_ticks = _month_ticks(x_min, x_max)
    elif x_unit == "year":
        x_ticks = nice_ticks(x_min, x_max, target=10, steps=(1, 2, 5))
    else:
        x_ticks = nice_ticks(x_min, x_max, target=8, steps=(1, 2, 5))

    y_quantity, y_unit = _Y[indicator]
    title_en, title_zh = _TITLES[indicator]
    return {
        "schema": SCHEMA,
        "indicator": indicator,
        "sex": sex,
        "title_en": title_en,
        "title_zh": title_zh,
        "x": {"quantity": x_quantity, "unit": x_unit, "min": x_min, "max": x_max, "ticks": x_ticks},
        "y": {
            "quantity": y_quantity,
            "unit": y_unit,
            "min": round(y_min, 3),
            "max": round(y_max, 3),
            "ticks": y_ticks,
        },
        "curves": curve_dicts,
        "points": points,
        "target_band": band,
        "standards": standards,
        "table_package": dict(table_package()),
        "notes": notes,
    }

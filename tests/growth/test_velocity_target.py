"""Height velocity, mid-parental target height, projected adult height."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from server.clinical.growth import (
    MIN_INTERVAL_DAYS,
    GrowthInputError,
    HeightPoint,
    Measurement,
    ParentHeights,
    assess_growth,
    height_velocities,
    mid_parental_height,
    project_adult_height,
)

BIRTH = date(2016, 1, 1)


def hp(days: int, cm: float, position: str = "standing") -> HeightPoint:
    return HeightPoint(BIRTH + timedelta(days=days), days, cm, position)  # type: ignore[arg-type]


def test_minimum_interval_is_three_months():
    assert MIN_INTERVAL_DAYS == 91


def test_velocity_cm_per_year():
    (v,) = height_velocities([hp(1000, 95.0), hp(1365, 101.0)])
    assert v.interval_days == 365
    assert v.gain_cm == 6.0
    assert v.velocity_cm_per_year == round(6.0 / 365 * 365.25, 1) == 6.0
    assert not v.short_interval


def test_short_intervals_are_skipped_not_annualised():
    # 30 days apart: 0.8 cm would read as ~9.7 cm/year.
    points = [hp(1000, 95.0), hp(1030, 95.8), hp(1120, 97.0), hp(1300, 99.5)]
    vs = height_velocities(points)
    assert [(v.from_date, v.to_date) for v in vs] == [
        (points[0].date, points[2].date),  # 120 days: first one far enough
        (points[2].date, points[3].date),  # 180 days
    ]
    assert vs[0].short_interval and vs[1].short_interval
    assert height_velocities([hp(1000, 95.0), hp(1090, 97.0)]) == []


def test_change_of_position_is_not_growth():
    # Lying 86.0 cm at 22 months, standing 88.3 cm at 28 months: 86.0 lying is
    # 85.3 standing, so the gain is 3.0 cm, not 2.3 cm.
    (v,) = height_velocities([hp(670, 86.0, "recumbent"), hp(852, 88.3, "standing")])
    assert v.position_adjustment_cm == -0.7
    assert v.gain_cm == 3.0


def test_unordered_input_is_sorted():
    vs = height_velocities([hp(1400, 103.0), hp(1000, 95.0)])
    assert vs[0].from_date < vs[0].to_date and vs[0].gain_cm == 8.0


def test_implausible_height_is_left_out_of_velocity():
    a = assess_growth(
        "male",
        BIRTH,
        [
            Measurement(BIRTH + timedelta(days=1000), height_cm=94.0),
            Measurement(BIRTH + timedelta(days=1200), height_cm=150.0),  # typing error
            Measurement(BIRTH + timedelta(days=1400), height_cm=99.0),
        ],
        today=date(2030, 1, 1),
    )
    assert [v.interval_days for v in a.velocities] == [400]
    assert a.velocities[0].gain_cm == 5.0


@pytest.mark.parametrize(
    ("sex", "target", "low", "high"),
    [
        ("male", 175.0, 166.5, 183.5),  # (175 + 162 + 13) / 2
        ("female", 162.0, 153.5, 170.5),  # (175 + 162 - 13) / 2
    ],
)
def test_mid_parental_height(sex, target, low, high):
    t = mid_parental_height(sex, ParentHeights(father_cm=175, mother_cm=162))
    assert (t.target_cm, t.range_low_cm, t.range_high_cm) == (target, low, high)
    assert t.range_high_cm - t.range_low_cm == 17.0


def test_target_as_who2007_z_at_19_years():
    # Boys 19 y (228 months) WHO 2007: L=1, M=176.5432, S=0.04134.
    t = mid_parental_height("male", ParentHeights(175, 162))
    assert t.target_z_at_19y == round((175.0 / 176.5432 - 1) / 0.04134, 2)


def test_parent_heights_validated():
    with pytest.raises(GrowthInputError) as info:
        mid_parental_height("female", ParentHeights(175, 1.6))
    assert info.value.field == "parents.mother_cm"
    assert info.value.code == "looks_like_metres"


def test_projection_keeps_the_z_score():
    p = project_adult_height("male", date(2024, 1, 1), 1000, 0.0)
    assert p is not None
    # WHO 2007 boys median at 18 y (216 months) 176.1449 and 19 y 176.5432.
    assert (p.at_18y_cm, p.at_19y_cm) == (176.1, 176.5)
    minus_one = project_adult_height("male", date(2024, 1, 1), 1000, -1.0)
    assert minus_one is not None
    assert minus_one.at_19y_cm == round(176.5432 * (1 - 0.04134), 1)
    assert "estimate" in p.label_en and "估计" in p.label_zh


def test_no_projection_under_two_years():
    assert project_adult_height("female", date(2024, 1, 1), 700, 0.5) is None


def test_assessment_projects_from_latest_plausible_height():
    a = assess_growth(
        "female",
        BIRTH,
        [
            Measurement(BIRTH + timedelta(days=1500), height_cm=100.0),
            Measurement(BIRTH + timedelta(days=2200), height_cm=116.0),
        ],
        today=date(2030, 1, 1),
        parents=ParentHeights(170, 158),
    )
    assert a.projected_adult_height is not None
    assert a.projected_adult_height.from_date == BIRTH + timedelta(days=2200)
    z = a.measurements[-1].results["lhfa"].z
    assert a.projected_adult_height.height_for_age_z == z
    assert a.target is not None
    assert a.projected_adult_height.within_target_range == (
        a.target.range_low_cm <= a.projected_adult_height.at_19y_cm <= a.target.range_high_cm
    )

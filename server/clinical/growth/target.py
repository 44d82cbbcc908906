"""Mid-parental target height and a projected adult height (estimate).

Mid-parental (target) height, Tanner's method:
    boys  (father + mother + 13) / 2
    girls (father + mother - 13) / 2
13 cm is the mean adult height difference between men and women.  Target
range: ±8.5 cm.  That figure is Tanner's: the spread of adult height around
the parental midpoint has an SD of about 4.25 cm, so ±2 SD ≈ ±8.5 cm covers
about 95% of children of those parents (Tanner JM, Goldstein H, Whitehouse RH.
Standards for children's height at ages 2-9 years allowing for height of
parents. Arch Dis Child 1970;45:755-62).

Projected adult height is *not* a prediction method (no bone age, no pubertal
stage): it is where the child ends up on WHO 2007 at 18 and 19 years if they
keep their current height-for-age z-score.  It is given only from 2 years of
age, because before then length centiles still shift a lot (catch-up /
catch-down growth towards the genetic channel), and it is labelled an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from .errors import GrowthInputError
from .lms import value_at_z, z_score
from .reference import DAYS_PER_MONTH, WHO_2007, Sex, lms_for_age

SEX_DIFFERENCE_CM = 13.0
TARGET_RANGE_CM = 8.5
PROJECTION_MIN_AGE_DAYS = 731  # 24 months
ADULT_AGES_MONTHS = (216, 228)  # 18 and 19 years, the end of WHO 2007

PARENT_MIN_CM = 100.0
PARENT_MAX_CM = 250.0


@dataclass(frozen=True, slots=True)
class ParentHeights:
    father_cm: float
    mother_cm: float


def validate_parent_heights(parents: ParentHeights) -> list[GrowthInputError]:
    errors: list[GrowthInputError] = []
    for name in ("father_cm", "mother_cm"):
        value = getattr(parents, name)
        field = f"parents.{name}"
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            errors.append(GrowthInputError(field, "must be a number (cm)", "invalid"))
        elif value <= 0:
            errors.append(GrowthInputError(field, f"{value} must be positive", "not_positive"))
        elif value <= 3:
            errors.append(
                GrowthInputError(
                    field,
                    f"{value} looks like metres; enter centimetres ({value * 100:g})",
                    "looks_like_metres",
                )
            )
        elif not PARENT_MIN_CM <= value <= PARENT_MAX_CM:
            errors.append(
                GrowthInputError(
                    field,
                    f"{value} cm is outside {PARENT_MIN_CM:g}-{PARENT_MAX_CM:g} cm",
                    "out_of_range",
                )
            )
    return errors


def _adult_z(sex: Sex, height_cm: float) -> float:
    point = lms_for_age("lhfa", sex, ADULT_AGES_MONTHS[1] * DAYS_PER_MONTH)
    assert point is not None  # 228 months is inside WHO 2007
    return round(z_score(height_cm, point.lms), 2)


@dataclass(frozen=True, slots=True)
class TargetHeight:
    sex: Sex
    father_cm: float
    mother_cm: float
    target_cm: float
    range_low_cm: float
    range_high_cm: float
    # The target expressed on WHO 2007 height-for-age at 19 years, so it can be
    # compared with the child's current height-for-age z-score.
    target_z_at_19y: float
    range_low_z_at_19y: float
    range_high_z_at_19y: float
    method: str = (
        "Tanner mid-parental height: boys (F+M+13)/2, girls (F+M-13)/2; "
        "target range ±8.5 cm (≈ ±2 SD)"
    )

    def to_dict(self) -> dict[str, object]:
        return {
            "sex": self.sex,
            "father_cm": self.father_cm,
            "mother_cm": self.mother_cm,
            "target_cm": self.target_cm,
            "range_low_cm": self.range_low_cm,
            "range_high_cm": self.range_high_cm,
            "target_z_at_19y": self.target_z_at_19y,
            "range_low_z_at_19y": self.range_low_z_at_19y,
            "range_high_z_at_19y": self.range_high_z_at_19y,
            "method": self.method,
            "z_reference": WHO_2007.to_dict(),
        }


def mid_parental_height(sex: Sex, parents: ParentHeights) -> TargetHeight:
    """Tanner's target height and ±8.5 cm range.  Raises GrowthInputError."""
    errors = validate_parent_heights(parents)
    if errors:
        raise errors[0]
    shift = SEX_DIFFERENCE_CM if sex == "male" else -SEX_DIFFERENCE_CM
    target = (parents.father_cm + parents.mother_cm + shift) / 2
    low, high = target - TARGET_RANGE_CM, target + TARGET_RANGE_CM
    return TargetHeight(
        sex=sex,
        father_cm=parents.father_cm,
        mother_cm=parents.mother_cm,
        target_cm=round(target, 1),
        range_low_cm=round(low, 1),
        range_high_cm=round(high, 1),
        target_z_at_19y=_adult_z(sex, target),
        range_low_z_at_19y=_adult_z(sex, low),
        range_high_z_at_19y=_adult_z(sex, high),
    )


@dataclass(frozen=True, slots=True)
class ProjectedAdultHeight:
    from_date: date
    from_age_months: float
    height_for_age_z: float
    at_18y_cm: float
    at_19y_cm: float
    within_target_range: bool | None
    label_en: str = "estimate: current height-for-age z-score carried to 18-19 years"
    label_zh: str = "估计值：按当前身高-年龄Z评分延续至18-19岁"
    caveat_en: str = (
        "Not a prediction: ignores bone age and the timing of puberty; "
        "actual adult height commonly differs by several centimetres."
    )
    caveat_zh: str = "非预测：未考虑骨龄及青春期早晚，实际成年身高常相差数厘米。"

    def to_dict(self) -> dict[str, object]:
        return {
            "from_date": self.from_date.isoformat(),
            "from_age_months": self.from_age_months,
            "height_for_age_z": self.height_for_age_z,
            "at_18y_cm": self.at_18y_cm,
            "at_19y_cm": self.at_19y_cm,
            "within_target_range": self.within_target_range,
            "label_en": self.label_en,
            "label_zh": self.label_zh,
            "caveat_en": self.caveat_en,
            "caveat_zh": self.caveat_zh,
            "reference": WHO_2007.to_dict(),
        }


def project_adult_height(
    sex: Sex,
    measured_on: date,
    age_days: int,
    height_for_age_z: float,
    target: TargetHeight | None = None,
) -> ProjectedAdultHeight | None:
    """Carry a (plausible) height-for-age z-score to 18 and 19 years on WHO 2007.

    Returns ``None`` under 2 years of age (see module docstring)."""
    if age_days < PROJECTION_MIN_AGE_DAYS:
        return None
    heights = []
    for months in ADULT_AGES_MONTHS:
        point = lms_for_age("lhfa", sex, months * DAYS_PER_MONTH)
        assert point is not None
        heights.append(round(value_at_z(height_for_age_z, point.lms), 1))
    within = None
    if target is not None:
        within = target.range_low_cm <= heights[1] <= target.range_high_cm
    return ProjectedAdultHeight(
        from_date=measured_on,
        from_age_months=round(age_days / DAYS_PER_MONTH, 2),
        height_for_age_z=height_for_age_z,
        at_18y_cm=heights[0],
        at_19y_cm=heights[1],
        within_target_range=within,
    )

"""Growth assessment of one child: z-scores, percentiles, WHO flags, velocity,
target height.  Pure: the only input besides the arguments is the WHO tables.

WHO conventions applied (as in the WHO's anthro / anthroplus software):
- age in completed days from the dates; WHO 2006 rows by day up to 1856 days,
  WHO 2007 by exact month (days / 30.4375, L/M/S interpolated) after that;
- length vs height: before 731 days (24 months) the standards are for
  recumbent length, from 731 days for standing height.  A child measured
  standing before 731 days gets +0.7 cm, one measured lying from 731 days
  gets -0.7 cm.  (From 5 years, WHO 2007 is height-based, so the same -0.7 cm
  applies to a recumbent measurement.)  Standing "height" under 9 months is
  not plausible: the WHO ignores the position there (no adjustment) and so do
  we, with a warning;
- weight-for-length before 731 days (45-110 cm), weight-for-height from 731
  days to 1856 days (65-120 cm), with the adjusted length/height, interpolated
  between 0.1 cm rows; BMI from the adjusted length/height;
- weight-based indicators use the restricted z-score beyond ±3 SD (lms.py);
- z-scores are rounded to 2 decimals (the WHO's precision) and the WHO's
  implausibility limits are applied to the rounded value; an implausible
  z-score is not reported as a result (status ``implausible``);
- bilateral pitting oedema: weight-based z-scores are not calculated;
- children born before 37 weeks are scored at their corrected age until 24
  months of chronological age (corrected_age.py); before term-equivalent age
  the age-based standards do not apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from .corrected_age import AgeCorrection, age_correction
from .errors import GrowthInputError
from .indicators import (
    IMPLAUSIBLE_EN,
    IMPLAUSIBLE_ZH,
    INDICATOR_INFO,
    Flag,
    Indicator,
    classify,
)
from .lms import percentile_from_z, restricted_z_score, z_score
from .reference import (
    DAYS_PER_MONTH,
    HEIGHT_FROM_DAY,
    WHO2006_LAST_DAY,
    WHO_2006,
    WHO_2007,
    ReferencePoint,
    Sex,
    lms_for_age,
    lms_for_lenhei,
    table_package,
)
from .target import (
    ParentHeights,
    ProjectedAdultHeight,
    TargetHeight,
    mid_parental_height,
    project_adult_height,
    validate_parent_heights,
)
from .velocity import (
    LENGTH_MINUS_HEIGHT_CM,
    MIN_INTERVAL_DAYS,
    HeightPoint,
    HeightVelocity,
    height_velocities,
)

Position = Literal["recumbent", "standing"]
Status = Literal["ok", "implausible", "not_applicable"]

# Physical limits for input validation (not clinical cut-offs): anything
# outside is a typing or unit mistake, not a child.
HEIGHT_MIN_CM, HEIGHT_MAX_CM = 25.0, 250.0
WEIGHT_MIN_KG, WEIGHT_MAX_KG = 0.2, 250.0
HEAD_MIN_CM, HEAD_MAX_CM = 15.0, 75.0
# WHO anthro: a standing measurement under 9 months is not plausible.
STANDING_MIN_AGE_MONTHS = 9


@dataclass(frozen=True, slots=True)
class Measurement:
    """One visit's measurements.  ``height_cm`` is recumbent length or standing
    height as measured; ``position`` says which (``None``: as the standard
    expects for the age, i.e. lying before 24 months, standing after)."""

    date: date
    height_cm: float | None = None
    weight_kg: float | None = None
    head_circumference_cm: float | None = None
    position: Position | None = None
    oedema: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """A non-fatal remark on a measurement, with a stable code."""

    code: str
    message_en: str
    message_zh: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message_en": self.message_en, "message_zh": self.message_zh}


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    indicator: Indicator
    status: Status
    z: float | None
    percentile: float | None
    # The value compared with the standard: adjusted length/height, weight,
    # BMI or head circumference.
    value: float | None
    unit: str
    restricted: bool = False
    flags: tuple[Flag, ...] = ()
    reference: Mapping[str, Any] | None = None
    message_en: str | None = None
    message_zh: str | None = None
    # Only for ``implausible``: the computed z-score, for the audit trail.
    # Not a result: never show it as the child's z-score.
    implausible_z: float | None = None

    def to_dict(self) -> dict[str, Any]:
        info = INDICATOR_INFO[self.indicator]
        return {
            "indicator": self.indicator,
            "name_en": info.name_en,
            "name_zh": info.name_zh,
            "status": self.status,
            "z": self.z,
            "percentile": self.percentile,
            "value": self.value,
            "unit": self.unit,
            "restricted": self.restricted,
            "flags": [f.to_dict() for f in self.flags],
            "reference": dict(self.reference) if self.reference is not None else None,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
            "implausible_z": self.implausible_z,
        }


@dataclass(frozen=True, slots=True)
class MeasurementAssessment:
    date: date
    age_days: int
    age_months: float
    age_text_en: str
    age_text_zh: str
    height_cm: float | None
    position: Position | None
    height_adjustment_cm: float
    # Length before 24 months, height from 24 months (after the 0.7 cm rule).
    standardised_height_cm: float | None
    weight_kg: float | None
    head_circumference_cm: float | None
    bmi: float | None
    oedema: bool
    results: Mapping[Indicator, IndicatorResult]
    notices: tuple[Notice, ...] = ()
    # Set only while a preterm child's age is corrected: the age the z-scores are read at.
    corrected_age_days: int | None = None
    corrected_age_text_en: str | None = None
    corrected_age_text_zh: str | None = None

    @property
    def scoring_age_days(self) -> int:
        """The age the standards were read at (corrected while the correction applies)."""
        return self.age_days if self.corrected_age_days is None else self.corrected_age_days

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "age_days": self.age_days,
            "age_months": self.age_months,
            "age_text_en": self.age_text_en,
            "age_text_zh": self.age_text_zh,
            "age_basis": "chronological" if self.corrected_age_days is None else "corrected",
            "corrected_age_days": self.corrected_age_days,
            "corrected_age_months": (None if self.corrected_age_days is None
                                     else round(self.corrected_age_days / DAYS_PER_MONTH, 2)),
            "corrected_age_text_en": self.corrected_age_text_en,
            "corrected_age_text_zh": self.corrected_age_text_zh,
            "height_cm": self.height_cm,
            "position": self.position,
            "height_adjustment_cm": self.height_adjustment_cm,
            "standardised_height_cm": self.standardised_height_cm,
            "weight_kg": self.weight_kg,
            "head_circumference_cm": self.head_circumference_cm,
            "bmi": self.bmi,
            "oedema": self.oedema,
            "results": {k: v.to_dict() for k, v in self.results.items()},
            "notices": [n.to_dict() for n in self.notices],
        }


@dataclass(frozen=True, slots=True)
class GrowthAssessment:
    sex: Sex
    birth_date: date
    today: date
    measurements: tuple[MeasurementAssessment, ...]
    velocities: tuple[HeightVelocity, ...]
    target: TargetHeight | None = None
    projected_adult_height: ProjectedAdultHeight | None = None
    standards: tuple[Mapping[str, str], ...] = field(
        default_factory=lambda: (WHO_2006.to_dict(), WHO_2007.to_dict())
    )
    table_package: Mapping[str, str] = field(default_factory=table_package)
    velocity_min_interval_days: int = MIN_INTERVAL_DAYS
    gestational_age_weeks: int | None = None
    age_correction: AgeCorrection | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "today": self.today.isoformat(),
            "gestational_age_weeks": self.gestational_age_weeks,
            "age_correction": self.age_correction.to_dict() if self.age_correction else None,
            "measurements": [m.to_dict() for m in self.measurements],
            "velocities": [v.to_dict() for v in self.velocities],
            "velocity_min_interval_days": self.velocity_min_interval_days,
            "target": self.target.to_dict() if self.target else None,
            "projected_adult_height": (
                self.projected_adult_height.to_dict() if self.projected_adult_height else None
            ),
            "standards": [dict(s) for s in self.standards],
            "table_package": dict(self.table_package),
        }


# ----------------------------------------------------------------------------
# Validation

_SEX_ALIASES: Mapping[str, Sex] = {
    "male": "male",
    "m": "male",
    "boy": "male",
    "男": "male",
    "female": "female",
    "f": "female",
    "girl": "female",
    "女": "female",
}


def normalise_sex(value: object) -> Sex:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise GrowthInputError("sex", 'is required ("male" or "female")', "required")
    if isinstance(value, str) and value.strip().lower() in _SEX_ALIASES:
        return _SEX_ALIASES[value.strip().lower()]
    raise GrowthInputError("sex", f'{value!r} is not "male" or "female"', "invalid")


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not math.isnan(value)
        and not math.isinf(value)
    )


def _check_height(field: str, value: float) -> GrowthInputError | None:
    if value <= 0:
        return GrowthInputError(field, f"{value} must be positive", "not_positive")
    if value <= 3:
        return GrowthInputError(
            field,
            f"{value} looks like metres; enter centimetres ({value * 100:g})",
            "looks_like_metres",
        )
    if not HEIGHT_MIN_CM <= value <= HEIGHT_MAX_CM:
        return GrowthInputError(
            field,
            f"{value} cm is impossible (allowed {HEIGHT_MIN_CM:g}-{HEIGHT_MAX_CM:g} cm)",
            "out_of_range",
        )
    return None


def _check_weight(field: str, value: float) -> GrowthInputError | None:
    if value <= 0:
        return GrowthInputError(field, f"{value} must be positive", "not_positive")
    if value > WEIGHT_MAX_KG and WEIGHT_MIN_KG <= value / 1000 <= WEIGHT_MAX_KG:
        return GrowthInputError(
            field,
            f"{value} looks like grams; enter kilograms ({value / 1000:g})",
            "looks_like_grams",
        )
    if not WEIGHT_MIN_KG <= value <= WEIGHT_MAX_KG:
        return GrowthInputError(
            field,
            f"{value} kg is impossible (allowed {WEIGHT_MIN_KG:g}-{WEIGHT_MAX_KG:g} kg)",
            "out_of_range",
        )
    return None


def _check_head(field: str, value: float) -> GrowthInputError | None:
    if value <= 0:
        return GrowthInputError(field, f"{value} must be positive", "not_positive")
    if value < 1:
        return GrowthInputError(
            field,
            f"{value} looks like metres; enter centimetres ({value * 100:g})",
            "looks_like_metres",
        )
    if value > 100 and HEAD_MIN_CM <= value / 10 <= HEAD_MAX_CM:
        return GrowthInputError(
            field,
            f"{value} looks like millimetres; enter centimetres ({value / 10:g})",
            "looks_like_millimetres",
        )
    if not HEAD_MIN_CM <= value <= HEAD_MAX_CM:
        return GrowthInputError(
            field,
            f"{value} cm is impossible (allowed {HEAD_MIN_CM:g}-{HEAD_MAX_CM:g} cm)",
            "out_of_range",
        )
    return None


def validate_inputs(
    sex: object,
    birth_date: object,
    measurements: Sequence[Measurement],
    *,
    today: date,
    parents: ParentHeights | None = None,
) -> list[GrowthInputError]:
    """Every problem with the inputs (for a form that shows them all at once)."""
    errors: list[GrowthInputError] = []
    try:
        normalise_sex(sex)
    except GrowthInputError as exc:
        errors.append(exc)
    birth_ok = isinstance(birth_date, date)
    if birth_date is None:
        errors.append(GrowthInputError("birth_date", "is required", "required"))
    elif not birth_ok:
        errors.append(GrowthInputError("birth_date", f"{birth_date!r} is not a date", "invalid"))
    elif isinstance(birth_date, date) and birth_date > today:
        errors.append(
            GrowthInputError(
                "birth_date",
                f"{birth_date.isoformat()} is after today ({today.isoformat()})",
                "in_future",
            )
        )
    if not measurements:
        errors.append(
            GrowthInputError("measurements", "at least one measurement is required", "required")
        )
    for i, m in enumerate(measurements):
        prefix = f"measurements[{i}]"
        if not isinstance(m.date, date):
            errors.append(GrowthInputError(f"{prefix}.date", "is required", "required"))
        else:
            if m.date > today:
                errors.append(
                    GrowthInputError(
                        f"{prefix}.date",
                        f"{m.date.isoformat()} is after today ({today.isoformat()})",
                        "in_future",
                    )
                )
            if isinstance(birth_date, date) and m.date < birth_date:
                errors.append(
                    GrowthInputError(
                        f"{prefix}.date",
                        f"{m.date.isoformat()} is before the birth date ({birth_date.isoformat()})",
                        "before_birth",
                    )
                )
        values = (
            ("height_cm", m.height_cm, _check_height),
            ("weight_kg", m.weight_kg, _check_weight),
            ("head_circumference_cm", m.head_circumference_cm, _check_head),
        )
        if all(v is None for _, v, _ in values):
            errors.append(
                GrowthInputError(
                    prefix,
                    "needs at least one of height_cm, weight_kg, head_circumference_cm",
                    "required",
                )
            )
        for name, value, check in values:
            if value is None:
                continue
            if not _is_number(value):
                errors.append(
                    GrowthInputError(f"{prefix}.{name}", f"{value!r} is not a number", "invalid")
                )
                continue
            problem = check(f"{prefix}.{name}", value)
            if problem:
                errors.append(problem)
        if m.position not in (None, "recumbent", "standing"):
            errors.append(
                GrowthInputError(
                    f"{prefix}.position",
                    f'{m.position!r} is not "recumbent" or "standing"',
                    "invalid",
                )
            )
    if parents is not None:
        errors.extend(validate_parent_heights(parents))
    return errors


# ----------------------------------------------------------------------------
# Computation


def _age_text(birth: date, on: date) -> tuple[str, str]:
    months = (on.year - birth.year) * 12 + (on.month - birth.month) - (on.day < birth.day)
    years, rest = divmod(months, 12)
    if months < 1:
        days = (on - birth).days
        return f"{days} d", f"{days}天"
    if months < 24:
        # Paediatric practice gives age in months up to two years.
        return f"{months} m", f"{months}月龄"
    return f"{years} y {rest} m", f"{years}岁{rest}月"


def _reference_dict(point: ReferencePoint) -> dict[str, Any]:
    return {
        "standard": point.standard.name,
        "standard_id": point.standard.id,
        "standard_version": point.standard.version,
        "table": point.table,
        "x": point.x,
        "x_unit": point.x_unit,
        "interpolated": point.interpolated,
        "lms": point.lms.to_dict(),
        "package": table_package()["name"],
        "package_version": table_package()["version"],
    }


def _not_applicable(
    indicator: Indicator, en: str, zh: str, value: float | None = None, flags: tuple[Flag, ...] = ()
) -> IndicatorResult:
    return IndicatorResult(
        indicator=indicator,
        status="not_applicable",
        z=None,
        percentile=None,
        value=value,
        unit=INDICATOR_INFO[indicator].unit,
        flags=flags,
        message_en=en,
        message_zh=zh,
    )


def score(indicator: Indicator, value: float, point: ReferencePoint) -> IndicatorResult:
    """Z-score, percentile, plausibility and WHO flags for one value."""
    info = INDICATOR_INFO[indicator]
    if info.weight_based:
        raw, restricted = restricted_z_score(value, point.lms)
    else:
        raw, restricted = z_score(value, point.lms), False
    z = round(raw, 2)
    ref = _reference_dict(point)
    if z < info.implausible_below or z > info.implausible_above:
        return IndicatorResult(
            indicator=indicator,
            status="implausible",
            z=None,
            percentile=None,
            value=round(value, 2),
            unit=info.unit,
            restricted=restricted,
            reference=ref,
            message_en=IMPLAUSIBLE_EN,
            message_zh=IMPLAUSIBLE_ZH,
            implausible_z=z,
        )
    return IndicatorResult(
        indicator=indicator,
        status="ok",
        z=z,
        percentile=round(percentile_from_z(z), 1),
        value=round(value, 2),
        unit=info.unit,
        restricted=restricted,
        flags=tuple(classify(indicator, z, point.standard.id)),
        reference=ref,
    )


_OEDEMA_FLAG = Flag(
    "oedema",
    "bilateral pitting oedema — severe acute malnutrition",
    "双侧凹陷性水肿——重度急性营养不良",
    "severe",
    "oedema: weight-based z-scores not calculated (WHO)",
)


def _age_based(
    indicator: Literal["lhfa", "wfa", "bmifa", "hcfa"], sex: Sex, age_days: int, value: float
) -> IndicatorResult:
    point = lms_for_age(indicator, sex, age_days)
    if point is not None:
        return score(indicator, value, point)
    months = age_days / DAYS_PER_MONTH
    if indicator == "wfa":
        return _not_applicable(
            indicator,
            "WHO 2007 has no weight-for-age after 10 years (it cannot separate height from "
            "body-mass gain in the pubertal spurt); use BMI-for-age",
            "WHO 2007 参考值不提供10岁以上的体重-年龄"
            "（青春期无法区分身高与体重增长），请看BMI-年龄",
            value,
        )
    if indicator == "hcfa":
        return _not_applicable(
            indicator,
            "WHO head circumference standards end at 5 years",
            "WHO 头围标准仅至5岁",
            value,
        )
    return _not_applicable(
        indicator,
        f"age {months:.1f} months is beyond the WHO 2007 reference (19 years)",
        f"年龄 {months:.1f} 月超出 WHO 2007 参考值范围（19岁）",
        value,
    )


def _weight_for_lenhei(sex: Sex, age_days: int, weight: float, lenhei: float) -> IndicatorResult:
    if age_days > WHO2006_LAST_DAY:
        return _not_applicable(
            "wflh",
            "weight-for-length/height is defined only under 5 years; use BMI-for-age",
            "体重-身长/身高仅适用于5岁以下，请看BMI-年龄",
            weight,
        )
    table: Literal["wfl", "wfh"] = "wfl" if age_days < HEIGHT_FROM_DAY else "wfh"
    point = lms_for_lenhei(table, sex, lenhei)
    if point is None:
        lo, hi = (45, 110) if table == "wfl" else (65, 120)
        what_en, what_zh = ("length", "身长") if table == "wfl" else ("height", "身高")
        return _not_applicable(
            "wflh",
            f"{what_en} {lenhei:g} cm is outside the WHO weight-for-{what_en} table ({lo}-{hi} cm)",
            f"{what_zh} {lenhei:g} cm 超出 WHO 体重-{what_zh}表范围（{lo}-{hi} cm）",
            weight,
        )
    return score("wflh", weight, point)


_BEFORE_TERM_EN = ("before term-equivalent age (40 weeks): the WHO standards start at term; "
                   "use a preterm chart (INTERGROWTH-21st, Fenton)")
_BEFORE_TERM_ZH = ("未达足月矫正年龄（40周）：WHO标准自足月起，"
                   "请使用早产儿曲线（INTERGROWTH-21st、Fenton）")


def assess_measurement(sex: Sex, birth_date: date, m: Measurement,
                       correction: AgeCorrection | None = None) -> MeasurementAssessment:
    """Assess one (already validated) measurement; a preterm child's `correction` moves the
    age the standards are read at while it applies."""
    chronological_days = (m.date - birth_date).days
    corrected = correction is not None and correction.applies(chronological_days)
    age_days = (m.date - correction.term_date(birth_date)).days if (
        correction is not None and corrected) else chronological_days
    months = age_days / DAYS_PER_MONTH
    notices: list[Notice] = []
    expected: Position = "recumbent" if age_days < HEIGHT_FROM_DAY else "standing"
    position = m.position or expected
    adjustment = 0.0
    if m.height_cm is not None:
        if position == "standing" and months < STANDING_MIN_AGE_MONTHS:
            notices.append(
                Notice(
                    "standing_under_9_months",
                    "standing height under 9 months is not plausible; treated as recumbent "
                    "length (no 0.7 cm adjustment)",
                    "9月龄以下立位测量不合理，按卧位身长处理（不做0.7 cm校正）",
                )
            )
            position = "recumbent"
        elif position == "standing" and age_days < HEIGHT_FROM_DAY:
            adjustment = LENGTH_MINUS_HEIGHT_CM
        elif position == "recumbent" and age_days >= HEIGHT_FROM_DAY:
            adjustment = -LENGTH_MINUS_HEIGHT_CM
        if adjustment:
            notices.append(
                Notice(
                    "position_adjusted",
                    f"{'standing height' if adjustment > 0 else 'recumbent length'} converted to "
                    f"{'length' if adjustment > 0 else 'height'} ({adjustment:+.1f} cm, WHO)",
                    f"{'立位身高' if adjustment > 0 else '卧位身长'}已按WHO规则换算"
                    f"（{adjustment:+.1f} cm）",
                )
            )
    lenhei = round(m.height_cm + adjustment, 2) if m.height_cm is not None else None
    bmi = m.weight_kg / (lenhei / 100) ** 2 if (m.weight_kg and lenhei) else None

    results: dict[Indicator, IndicatorResult] = {}
    age_based = _age_based if age_days >= 0 else _before_term
    if lenhei is not None:
        results["lhfa"] = age_based("lhfa", sex, age_days, lenhei)
    if m.weight_kg is not None:
        if m.oedema:
            en = "bilateral pitting oedema: weight-based z-scores are not calculated (WHO)"
            zh = "双侧凹陷性水肿：不计算与体重相关的Z评分（WHO）"
            results["wfa"] = _not_applicable("wfa", en, zh, m.weight_kg, (_OEDEMA_FLAG,))
            if lenhei is not None:
                results["wflh"] = _not_applicable("wflh", en, zh, m.weight_kg, (_OEDEMA_FLAG,))
                results["bmifa"] = _not_applicable("bmifa", en, zh, bmi, (_OEDEMA_FLAG,))
        else:
            results["wfa"] = age_based("wfa", sex, age_days, m.weight_kg)
            if lenhei is not None and bmi is not None:
                results["wflh"] = _weight_for_lenhei(sex, max(age_days, 0), m.weight_kg, lenhei)
                results["bmifa"] = age_based("bmifa", sex, age_days, bmi)
    if m.head_circumference_cm is not None:
        results["hcfa"] = age_based("hcfa", sex, age_days, m.head_circumference_cm)

    text_en, text_zh = _age_text(birth_date, m.date)
    corrected_en = corrected_zh = None
    if correction is not None and corrected:
        corrected_en, corrected_zh = (
            _age_text(correction.term_date(birth_date), m.date) if age_days >= 0
            else (f"{-age_days} d before term", f"距足月{-age_days}天"))
    return MeasurementAssessment(
        date=m.date,
        age_days=chronological_days,
        age_months=round(chronological_days / DAYS_PER_MONTH, 2),
        age_text_en=text_en,
        age_text_zh=text_zh,
        height_cm=m.height_cm,
        position=position if m.height_cm is not None else None,
        height_adjustment_cm=adjustment,
        standardised_height_cm=lenhei,
        weight_kg=m.weight_kg,
        head_circumference_cm=m.head_circumference_cm,
        bmi=round(bmi, 2) if bmi is not None else None,
        oedema=m.oedema,
        results=results,
        notices=tuple(notices),
        corrected_age_days=age_days if corrected else None,
        corrected_age_text_en=corrected_en,
        corrected_age_text_zh=corrected_zh,
    )


def _before_term(
    indicator: Literal["lhfa", "wfa", "bmifa", "hcfa"], sex: Sex, age_days: int, value: float
) -> IndicatorResult:
    return _not_applicable(indicator, _BEFORE_TERM_EN, _BEFORE_TERM_ZH, value)


def assess_growth(
    sex: object,
    birth_date: date | None,
    measurements: Sequence[Measurement],
    *,
    today: date,
    parents: ParentHeights | None = None,
    gestational_age_weeks: int | None = None,
) -> GrowthAssessment:
    """Assess a child's measurements against the WHO standards (a child born before 37
    weeks at corrected age until 24 months, see corrected_age.py).

    Raises :class:`GrowthInputError` (the first problem found; use
    :func:`validate_inputs` for all of them) for impossible inputs.
    """
    errors = validate_inputs(sex, birth_date, measurements, today=today, parents=parents)
    if errors:
        raise errors[0]
    assert birth_date is not None
    sex_ = normalise_sex(sex)
    correction = age_correction(gestational_age_weeks)
    assessed = tuple(
        assess_measurement(sex_, birth_date, m, correction)
        for m in sorted(measurements, key=lambda m: m.date)
    )

    # Velocity only from plausible heights: an implausible one is a suspected
    # measuring error and would produce a spurious velocity.
    points = [
        HeightPoint(a.date, a.age_days, a.height_cm, a.position or "standing")
        for a in assessed
        if a.height_cm is not None and "lhfa" in a.results and a.results["lhfa"].status == "ok"
    ]
    velocities = tuple(height_velocities(points))

    target = mid_parental_height(sex_, parents) if parents is not None else None
    projected = None
    for a in reversed(assessed):
        hfa = a.results.get("lhfa")
        if hfa is not None and hfa.status == "ok" and hfa.z is not None:
            projected = project_adult_height(sex_, a.date, a.age_days, hfa.z, target)
            break
    return GrowthAssessment(
        sex=sex_,
        birth_date=birth_date,
        today=today,
        measurements=assessed,
        velocities=velocities,
        target=target,
        projected_adult_height=projected,
        gestational_age_weeks=gestational_age_weeks,
        age_correction=correction,
    )


# ----------------------------------------------------------------------------
# JSON input (for the HTTP layer): ISO dates, numbers or null.


def _parse_date(value: object, field_name: str, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise GrowthInputError(field_name, "is required", "required")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise GrowthInputError(field_name, f"{value!r} is not a date (YYYY-MM-DD)", "invalid")


def _parse_number(value: object, field_name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif _is_number(value):
        return float(value)  # type: ignore[arg-type]
    raise GrowthInputError(field_name, f"{value!r} is not a number", "invalid")


def measurement_from_dict(data: Mapping[str, Any], index: int = 0) -> Measurement:
    prefix = f"measurements[{index}]"
    when = _parse_date(data.get("date"), f"{prefix}.date")
    assert when is not None
    position = data.get("position")
    if position not in (None, "", "recumbent", "standing"):
        raise GrowthInputError(
            f"{prefix}.position", f'{position!r} is not "recumbent" or "standing"', "invalid"
        )
    return Measurement(
        date=when,
        height_cm=_parse_number(data.get("height_cm"), f"{prefix}.height_cm"),
        weight_kg=_parse_number(data.get("weight_kg"), f"{prefix}.weight_kg"),
        head_circumference_cm=_parse_number(
            data.get("head_circumference_cm"), f"{prefix}.head_circumference_cm"
        ),
        position=position or None,
        oedema=bool(data.get("oedema", False)),
    )


def assess_growth_from_dict(payload: Mapping[str, Any], *, today: date) -> GrowthAssessment:
    """``{"sex", "birth_date", "measurements": [...], "parents": {...},
    "gestational_age_weeks"?}`` → assessment."""
    birth = _parse_date(payload.get("birth_date"), "birth_date", required=False)
    raw = payload.get("measurements") or []
    if not isinstance(raw, list):
        raise GrowthInputError("measurements", "must be a list", "invalid")
    measurements = [measurement_from_dict(m, i) for i, m in enumerate(raw)]
    parents = None
    if payload.get("parents"):
        p = payload["parents"]
        father = _parse_number(p.get("father_cm"), "parents.father_cm")
        mother = _parse_number(p.get("mother_cm"), "parents.mother_cm")
        if father is None:
            raise GrowthInputError("parents.father_cm", "is required", "required")
        if mother is None:
            raise GrowthInputError("parents.mother_cm", "is required", "required")
        parents = ParentHeights(father, mother)
    weeks = _parse_number(payload.get("gestational_age_weeks"), "gestational_age_weeks")
    if weeks is not None and not (weeks.is_integer() and 22 <= weeks <= 44):
        raise GrowthInputError("gestational_age_weeks", f"{weeks:g} is not a whole number of "
                               "weeks from 22 to 44", "out_of_range")
    return assess_growth(payload.get("sex"), birth, measurements, today=today, parents=parents,
                         gestational_age_weeks=None if weeks is None else int(weeks))

"""Is a value a child can have at this age? Checked when the guardian enters it, against the
WHO standards, so an impossible value is refused with a reason instead of only being marked
"re-measure" in the physician's assessment later.

"Implausible" is the WHO's own flag for biologically implausible values, as the WHO Anthro
and AnthroPlus software apply it (indicators.py): length/height-for-age z < −6 or > +6,
weight-for-age z < −6 or > +5, weight-for-length/height, BMI-for-age and head
circumference-for-age |z| > 5 — read at the corrected age of a preterm child.

A weight in 斤 (jin, 0.5 kg) is the common unit mistake the ranges cannot see: 80 is a weight
a child may have in kg, and twice what a 12-year-old usually weighs. It is asked about, never
converted: when the value read as 斤 is an ordinary weight for the child (every weight-based
z-score within ±2) while read as kg it is implausible, or beyond +3 SD and not yet confirmed
by the guardian.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from .assess import Measurement, MeasurementAssessment, assess_measurement
from .corrected_age import age_correction
from .errors import GrowthInputError
from .indicators import INDICATOR_INFO, Indicator
from .reference import Sex

KG_PER_JIN = 0.5
# A weight read as kg beyond this z-score, while as 斤 it is ordinary, is asked about.
JIN_QUESTION_ABOVE_Z = 3.0
ORDINARY_Z = 2.0
WEIGHT_INDICATORS: tuple[Indicator, ...] = ("wfa", "wflh", "bmifa")


@dataclass(frozen=True, slots=True)
class Entry:
    """One measurement as entered. Only the `current` one is refused for being implausible:
    it can be measured again now; a past value from a health booklet is kept, marked for the
    physician. `weight_confirmed` is the guardian's answer to the 斤 question."""

    measurement: Measurement
    current: bool
    weight_confirmed: bool = False


def _weight_zs(assessed: MeasurementAssessment) -> list[float]:
    """The weight-based z-scores read (an implausible one too); none where not applicable."""
    results = [assessed.results.get(i) for i in WEIGHT_INDICATORS]
    zs = [r.z if r.status == "ok" else r.implausible_z for r in results if r is not None]
    return [z for z in zs if z is not None]


def _implausible(assessed: MeasurementAssessment, indicator: Indicator) -> bool:
    result = assessed.results.get(indicator)
    return result is not None and result.status == "implausible"


def _limits(indicator: Indicator) -> str:
    info = INDICATOR_INFO[indicator]
    return f"WHO flags z < {info.implausible_below:+g} or > {info.implausible_above:+g}"


def _z_text(assessed: MeasurementAssessment, indicator: Indicator) -> str:
    result = assessed.results[indicator]
    return f"{INDICATOR_INFO[indicator].name_en} z = {result.implausible_z:+.2f}"


def _age_words(assessed: MeasurementAssessment) -> str:
    if assessed.corrected_age_text_en is not None:
        return f"{assessed.age_text_en} (corrected age {assessed.corrected_age_text_en})"
    return assessed.age_text_en


def _jin_question(sex: Sex, birth_date: date, entry: Entry, assessed: MeasurementAssessment,
                  gestational_age_weeks: int | None, prefix: str) -> GrowthInputError | None:
    m = entry.measurement
    if m.weight_kg is None or m.oedema:
        return None
    as_kg = _weight_zs(assessed)
    as_jin = assess_measurement(sex, birth_date,
                                dataclasses.replace(m, weight_kg=m.weight_kg * KG_PER_JIN),
                                age_correction(gestational_age_weeks))
    jin_zs = _weight_zs(as_jin)
    # Both readings have the same indicators (applicability depends on age and length only).
    if not jin_zs or any(abs(z) > ORDINARY_Z for z in jin_zs):
        return None
    implausible = any(_implausible(assessed, i) for i in WEIGHT_INDICATORS)
    if not implausible and (entry.weight_confirmed or max(as_kg) <= JIN_QUESTION_ABOVE_Z):
        return None
    weight, kg = m.weight_kg, m.weight_kg * KG_PER_JIN
    ask = "" if implausible else f", or confirm that it is {weight:g} kg"
    return GrowthInputError(
        f"{prefix}.weight_kg",
        f"{weight:g} looks like 斤 ({weight:g} 斤 = {kg:g} kg); give it in kg{ask}",
        "looks_like_jin")


# The value each age-based indicator reads, and its unit.
_AGE_FIELDS: tuple[tuple[Indicator, str, str], ...] = (
    ("lhfa", "height_cm", "cm"), ("wfa", "weight_kg", "kg"),
    ("hcfa", "head_circumference_cm", "cm"))
_WEIGHT_FOR_SIZE: tuple[Indicator, ...] = ("wflh", "bmifa")


def _implausible_errors(assessed: MeasurementAssessment, m: Measurement,
                        prefix: str) -> list[GrowthInputError]:
    errors = []
    at = _age_words(assessed)
    for indicator, field, unit in _AGE_FIELDS:
        if _implausible(assessed, indicator):
            errors.append(GrowthInputError(
                f"{prefix}.{field}",
                f"{getattr(m, field):g} {unit} is not plausible at {at}: "
                f"{_z_text(assessed, indicator)} ({_limits(indicator)}); measure again and "
                "check the unit", "implausible_for_age"))
    # Weight against length/height: the weight is named unless the height already is.
    if not _implausible(assessed, "lhfa") and not _implausible(assessed, "wfa"):
        for indicator in _WEIGHT_FOR_SIZE:
            if _implausible(assessed, indicator):
                errors.append(GrowthInputError(
                    f"{prefix}.weight_kg",
                    f"{m.weight_kg:g} kg at {m.height_cm:g} cm is not plausible at {at}: "
                    f"{_z_text(assessed, indicator)} ({_limits(indicator)}); check the weight "
                    "and the height", "implausible_for_age"))
                break
    return errors


def plausibility_errors(sex: Sex, birth_date: date, entries: Sequence[Entry], *,
                        gestational_age_weeks: int | None = None) -> list[GrowthInputError]:
    """The 斤 questions and the implausible current values, with paths
    ``measurements[i].field`` in the order given. The entries must have passed
    :func:`validate_inputs`."""
    correction = age_correction(gestational_age_weeks)
    errors: list[GrowthInputError] = []
    for i, entry in enumerate(entries):
        prefix = f"measurements[{i}]"
        assessed = assess_measurement(sex, birth_date, entry.measurement, correction)
        jin = _jin_question(sex, birth_date, entry, assessed, gestational_age_weeks, prefix)
        if jin is not None:
            errors.append(jin)
        if entry.current:
            errors.extend(e for e in _implausible_errors(assessed, entry.measurement, prefix)
                          if jin is None or e.field != jin.field)
    return errors

"""The bridge between the pre-consultation intake and the growth assessment: the intake's
measurements in the growth package's terms, its errors in the intake's field names."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from server.clinical.growth import (
    GrowthAssessment,
    GrowthInputError,
    Measurement,
    ParentHeights,
    assess_growth,
    build_chart_data,
    normalise_sex,
    validate_inputs,
)
from server.clinical.growth.curves import ChartIndicator
from server.clinical.growth.plausibility import Entry, plausibility_errors
from server.clinical.intake import GrowthIntake, NutritionIntake
from server.kernel.errors import FieldError

GROWTH_SPECIALTIES = frozenset({"growth_development", "nutrition"})


def measurements_of(intake: GrowthIntake | NutritionIntake) -> list[Measurement]:
    """Current first, then previous ones in the order given (error paths rely on it)."""
    return [Measurement(date=m.measured_on, height_cm=m.height_cm, weight_kg=m.weight_kg,
                        head_circumference_cm=m.head_circumference_cm, position=m.position)
            for m in (intake.current, *intake.previous_measurements)]


def parents_of(intake: GrowthIntake | NutritionIntake) -> ParentHeights | None:
    if isinstance(intake, GrowthIntake) and intake.father_height_cm and intake.mother_height_cm:
        return ParentHeights(father_cm=intake.father_height_cm, mother_cm=intake.mother_height_cm)
    return None


def gestational_age_of(intake: GrowthIntake | NutritionIntake) -> int | None:
    return intake.birth.gestational_age_weeks if intake.birth is not None else None


_MEASUREMENT_PATH = re.compile(r"^measurements\[(\d+)\]\.?(.*)$")
_PARENT_FIELDS = {"father_cm": "father_height_cm", "mother_cm": "mother_height_cm"}


def intake_field(error: GrowthInputError) -> str:
    """`measurements[2].height_cm` → `previous_measurements.1.height_cm`, and so on."""
    found = _MEASUREMENT_PATH.match(error.field)
    if found:
        index, rest = int(found.group(1)), found.group(2)
        base = "current" if index == 0 else f"previous_measurements.{index - 1}"
        return f"{base}.{rest}" if rest else base
    tail = error.field.rsplit(".", 1)[-1]
    return _PARENT_FIELDS.get(tail, error.field)


def growth_input_errors(intake: GrowthIntake | NutritionIntake, *, sex: str, birth_date: date,
                        today: date) -> list[FieldError]:
    """Impossible values, then (once every value is possible) the 斤 questions and the
    current values implausible for the child's age and sex."""
    measurements = measurements_of(intake)
    problems = validate_inputs(sex, birth_date, measurements, today=today,
                               parents=parents_of(intake))
    if not problems:
        given = (intake.current, *intake.previous_measurements)
        problems = plausibility_errors(
            normalise_sex(sex), birth_date,
            [Entry(m, current=i == 0, weight_confirmed=g.weight_kg_confirmed)
             for i, (m, g) in enumerate(zip(measurements, given, strict=True))],
            gestational_age_weeks=gestational_age_of(intake))
    return [FieldError(intake_field(e), e.message) for e in problems]


def assess_intake(intake: GrowthIntake | NutritionIntake, *, sex: str, birth_date: date,
                  today: date) -> GrowthAssessment:
    return assess_growth(sex, birth_date, measurements_of(intake), today=today,
                         parents=parents_of(intake),
                         gestational_age_weeks=gestational_age_of(intake))


def chart_indicators(birth_date: date, latest: date) -> list[ChartIndicator]:
    """The charts a paediatrician reads at this age (WHO: head circumference and
    weight-for-length/height to 5 years, weight-for-age to 10)."""
    months = (latest.year - birth_date.year) * 12 + latest.month - birth_date.month
    charts: list[ChartIndicator] = ["lhfa"]
    if months <= 120:
        charts.append("wfa")
    charts.append("bmifa")
    if months < 60:
        charts.append("hcfa")
        charts.append("wfl" if months < 24 else "wfh")
    return charts


def growth_report(intake: GrowthIntake | NutritionIntake, *, sex: str, birth_date: date,
                  today: date) -> dict[str, Any]:
    assessment = assess_intake(intake, sex=sex, birth_date=birth_date, today=today)
    latest = max(m.date for m in measurements_of(intake))
    charts = {indicator: build_chart_data(indicator, assessment.sex, assessment=assessment)
              for indicator in chart_indicators(birth_date, latest)}
    return {"assessment": assessment.to_dict(), "charts": charts}

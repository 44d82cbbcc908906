"""Pre-consultation intake (预问诊), one form per pilot specialty.

Ranges here catch typing and unit mistakes (metres or 市尺 for centimetres, grams for
kilograms) with a message that says which — the guardian is asked, nothing is converted.
Their lower ends admit the smallest preterm babies (a 22-week baby is about 25-30 cm long,
head about 20 cm, 0.3-0.5 kg). Whether a value is plausible *for this child's age and sex*
(and a weight in 斤, which needs the age to tell) is checked against the WHO standards in
server/clinical/growth/plausibility.py.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from server.clinical.booking import age_in_whole_years
from server.clinical.specialties import Specialty
from server.kernel.errors import FieldError, InvalidInput
from server.kernel.validation import StrictModel, parse_json

FreeText = Annotated[str, StringConstraints(max_length=2000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _check_range(value: float | None, low: float, high: float, unit: str,
                 unit_hint: tuple[float, str] | None = None) -> float | None:
    if value is None:
        return None
    if unit_hint is not None and value < unit_hint[0]:
        raise ValueError(f"{value} looks like {unit_hint[1]}; give it in {unit}")
    if not low <= value <= high:
        raise ValueError(f"must be between {low:g} and {high:g} {unit}")
    return value


HEIGHT_RANGE_CM = (25.0, 220.0)
WEIGHT_RANGE_KG = (0.3, 200.0)
HEAD_RANGE_CM = (15.0, 65.0)


def _check_weight(value: float | None) -> float | None:
    if value is not None and value > 300:
        raise ValueError(f"{value} looks like grams; give it in kg")
    return _check_range(value, *WEIGHT_RANGE_KG, "kg")


def _check_height(value: float | None) -> float | None:
    """A length given in metres (1.2) or in 市尺 (3.6 尺 = 120 cm: 1 尺 = 1/3 m) is named as
    such; where both readings are lengths a child can have, both are named."""
    if value is None:
        return None
    low, high = HEIGHT_RANGE_CM
    # Rounded: 2.2 * 100 is 220.00000000000003 in binary.
    as_metres, as_chi = round(value * 100, 6), round(value * 100 / 3, 6)
    metres, chi = low <= as_metres <= high, low <= as_chi <= high
    if metres and chi:
        raise ValueError(f"{value} looks like metres ({as_metres:g} cm) or 市尺 "
                         f"({as_chi:.1f} cm); give it in cm")
    if metres:
        raise ValueError(f"{value} looks like metres; give it in cm")
    if chi:
        raise ValueError(f"{value} looks like 市尺 ({value} 尺 = {as_chi:.1f} cm); give it in cm")
    return _check_range(value, low, high, "cm")


class Measurement(StrictModel):
    measured_on: date
    height_cm: float | None = Field(default=None, description="length (lying) or height (standing)")
    position: Literal["recumbent", "standing"] | None = Field(
        default=None, description="how the length/height was taken; defaults by age (<2 y lying)")
    weight_kg: float | None = None
    head_circumference_cm: float | None = None
    weight_kg_confirmed: bool = Field(
        default=False, description="the guardian confirms the weight is in kg after being "
        "asked whether it was weighed in 斤 (looks_like_jin)")

    @field_validator("height_cm")
    @classmethod
    def _height(cls, v: float | None) -> float | None:
        return _check_height(v)

    @field_validator("weight_kg")
    @classmethod
    def _weight(cls, v: float | None) -> float | None:
        return _check_weight(v)

    @field_validator("head_circumference_cm")
    @classmethod
    def _head(cls, v: float | None) -> float | None:
        return _check_range(v, *HEAD_RANGE_CM, "cm", (1, "metres"))


class BirthData(StrictModel):
    gestational_age_weeks: int | None = Field(default=None, ge=22, le=44)
    birth_weight_kg: float | None = Field(default=None, ge=0.3, le=6.5)
    birth_length_cm: float | None = Field(default=None, ge=25, le=65)


class GrowthIntake(StrictModel):
    current: Measurement
    previous_measurements: list[Measurement] = Field(default_factory=list, max_length=40)
    birth: BirthData | None = None
    father_height_cm: float | None = Field(default=None, ge=120, le=230)
    mother_height_cm: float | None = Field(default=None, ge=120, le=230)
    concerns: FreeText = ""


class FeedingHistory(StrictModel):
    milk: Literal["breast_exclusive", "breast_mixed", "formula", "cow_milk", "none"]
    complementary_food_from_months: int | None = Field(default=None, ge=0, le=36)
    meals_per_day: int | None = Field(default=None, ge=0, le=12)
    picky_eating: bool = False
    supplements: list[ShortText] = Field(default_factory=list, max_length=20)
    notes: FreeText = ""


class DietEntry(StrictModel):
    meal: Literal["breakfast", "morning_snack", "lunch", "afternoon_snack", "dinner", "night"]
    foods: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    amount: Annotated[str, StringConstraints(max_length=100)] = ""


class NutritionIntake(StrictModel):
    current: Measurement
    previous_measurements: list[Measurement] = Field(default_factory=list, max_length=40)
    birth: BirthData | None = None
    feeding: FeedingHistory
    diet_record: list[DietEntry] = Field(min_length=1, max_length=50,
                                         description="a 24-hour recall of what the child ate")
    allergies: list[ShortText] = Field(default_factory=list, max_length=20)
    concerns: FreeText = ""


_SITE_CODE = re.compile(r"^[a-z][a-z_]{1,39}$")


def _check_site_code(value: str) -> str:
    if not _SITE_CODE.match(value):
        raise ValueError("not a body-site code")
    return value


class LesionSite(StrictModel):
    site: str = Field(description="a body-site code from GET /api/body-sites")
    laterality: Literal["left", "right", "midline", "bilateral"] | None = None

    @field_validator("site")
    @classmethod
    def _site(cls, v: str) -> str:
        return _check_site_code(v)


class DermatologyIntake(StrictModel):
    lesion_sites: list[LesionSite] = Field(min_length=1, max_length=20)
    duration_days: int = Field(ge=0, le=6600)
    symptoms: list[Literal["itch", "pain", "fever", "spreading", "bleeding", "oozing",
                           "blistering", "scaling"]] = Field(default_factory=list)
    treatments_tried: list[ShortText] = Field(default_factory=list, max_length=20)
    photo_ids: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]] = Field(
        default_factory=list, max_length=12)
    concerns: FreeText = ""


IntakeModel = GrowthIntake | NutritionIntake | DermatologyIntake

INTAKE_MODELS: dict[Specialty, type[IntakeModel]] = {
    Specialty.GROWTH_DEVELOPMENT: GrowthIntake,
    Specialty.NUTRITION: NutritionIntake,
    Specialty.DERMATOLOGY: DermatologyIntake,
}

HEAD_CIRCUMFERENCE_REQUIRED_UNDER_YEARS = 3


def _check_measurement(m: Measurement, path: str, birth_date: date, today: date,
                       errors: list[FieldError]) -> None:
    if m.measured_on > today:
        errors.append(FieldError(f"{path}.measured_on", "is in the future"))
    if m.measured_on < birth_date:
        errors.append(FieldError(f"{path}.measured_on", "is before the child's birth date"))
    if m.height_cm is None and m.weight_kg is None and m.head_circumference_cm is None:
        errors.append(FieldError(path, "holds no measurement"))


def validate_intake(specialty: Specialty, raw: bytes | str, *, birth_date: date,
                    today: date) -> IntakeModel:
    """Parse and check an intake for `specialty` against the child's birth date."""
    intake = parse_json(INTAKE_MODELS[specialty], raw)
    errors: list[FieldError] = []
    if isinstance(intake, (GrowthIntake, NutritionIntake)):
        current = intake.current
        _check_measurement(current, "current", birth_date, today, errors)
        if current.height_cm is None:
            errors.append(FieldError("current.height_cm", "required"))
        if current.weight_kg is None:
            errors.append(FieldError("current.weight_kg", "required"))
        if (current.head_circumference_cm is None and age_in_whole_years(
                birth_date, current.measured_on) < HEAD_CIRCUMFERENCE_REQUIRED_UNDER_YEARS):
            errors.append(FieldError("current.head_circumference_cm",
                                     "required for children under 3"))
        seen: set[date] = {current.measured_on}
        for i, previous in enumerate(intake.previous_measurements):
            path = f"previous_measurements.{i}"
            _check_measurement(previous, path, birth_date, today, errors)
            if previous.measured_on >= current.measured_on:
                errors.append(FieldError(f"{path}.measured_on",
                                         "must be before the current measurement"))
            if previous.measured_on in seen:
                errors.append(FieldError(f"{path}.measured_on", "a measurement on this date "
                                         "is already given"))
            seen.add(previous.measured_on)
    if errors:
        raise InvalidInput(errors)
    return intake


def intake_to_json(intake: IntakeModel) -> dict[str, Any]:
    return intake.model_dump(mode="json")

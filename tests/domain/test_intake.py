import json
from datetime import date

import pytest

from server.clinical.intake import DermatologyIntake, GrowthIntake, validate_intake
from server.clinical.specialties import Specialty
from server.kernel.errors import InvalidInput, MalformedRequest

BIRTH = date(2023, 5, 20)  # 3 y 6 m on TODAY
TODAY = date(2026, 11, 20)


def growth(**changes):
    body = {"current": {"measured_on": "2026-11-18", "height_cm": 99.5, "weight_kg": 15.2},
            "previous_measurements": [
                {"measured_on": "2026-05-10", "height_cm": 95.0, "weight_kg": 14.1}],
            "father_height_cm": 175.0, "mother_height_cm": 162.0, "concerns": "长得慢"}
    body.update(changes)
    return json.dumps(body)


def fields_of(error: InvalidInput) -> dict[str, str]:
    return {e.field: e.message for e in error.errors}


def test_a_complete_growth_intake_is_accepted():
    intake = validate_intake(Specialty.GROWTH_DEVELOPMENT, growth(), birth_date=BIRTH,
                             today=TODAY)
    assert isinstance(intake, GrowthIntake) and intake.current.height_cm == 99.5


def test_height_given_in_metres_is_named_as_such():
    body = growth(current={"measured_on": "2026-11-18", "height_cm": 0.995, "weight_kg": 15.2})
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.GROWTH_DEVELOPMENT, body, birth_date=BIRTH, today=TODAY)
    assert "metres" in fields_of(error.value)["current.height_cm"]


def test_weight_given_in_grams_is_named_as_such():
    body = growth(current={"measured_on": "2026-11-18", "height_cm": 99.5, "weight_kg": 15200})
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.GROWTH_DEVELOPMENT, body, birth_date=BIRTH, today=TODAY)
    assert "grams" in fields_of(error.value)["current.weight_kg"]


def test_a_number_sent_as_text_is_refused_not_guessed():
    body = growth(current={"measured_on": "2026-11-18", "height_cm": "99.5", "weight_kg": 15.2})
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.GROWTH_DEVELOPMENT, body, birth_date=BIRTH, today=TODAY)
    assert "current.height_cm" in fields_of(error.value)


def test_dates_in_the_future_or_before_birth_are_refused():
    body = growth(current={"measured_on": "2026-12-01", "height_cm": 99.5, "weight_kg": 15.2},
                  previous_measurements=[{"measured_on": "2023-01-01", "weight_kg": 3.0}])
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.GROWTH_DEVELOPMENT, body, birth_date=BIRTH, today=TODAY)
    found = fields_of(error.value)
    assert found["current.measured_on"] == "is in the future"
    assert found["previous_measurements.0.measured_on"] == "is before the child's birth date"


def test_head_circumference_is_required_under_three_only():
    young_birth = date(2025, 1, 1)
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.GROWTH_DEVELOPMENT, growth(previous_measurements=[]),
                        birth_date=young_birth, today=TODAY)
    assert "current.head_circumference_cm" in fields_of(error.value)
    validate_intake(Specialty.GROWTH_DEVELOPMENT, growth(), birth_date=BIRTH, today=TODAY)


def test_unknown_fields_are_refused():
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.GROWTH_DEVELOPMENT, growth(shoe_size=30), birth_date=BIRTH,
                        today=TODAY)
    assert fields_of(error.value)["shoe_size"] == "unknown field"


def test_not_json_is_a_malformed_request():
    with pytest.raises(MalformedRequest):
        validate_intake(Specialty.NUTRITION, b"{not json", birth_date=BIRTH, today=TODAY)


def test_nutrition_needs_a_diet_record_and_feeding_history():
    body = json.dumps({"current": {"measured_on": "2026-11-18", "height_cm": 99.5,
                                   "weight_kg": 15.2}})
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.NUTRITION, body, birth_date=BIRTH, today=TODAY)
    assert {"feeding", "diet_record"} <= set(fields_of(error.value))


def test_dermatology_intake_with_sites_and_symptoms():
    body = json.dumps({"lesion_sites": [{"site": "cheek", "laterality": "left"}],
                       "duration_days": 14, "symptoms": ["itch", "scaling"],
                       "treatments_tried": ["炉甘石洗剂"]})
    intake = validate_intake(Specialty.DERMATOLOGY, body, birth_date=BIRTH, today=TODAY)
    assert isinstance(intake, DermatologyIntake) and intake.symptoms == ["itch", "scaling"]


def test_dermatology_needs_at_least_one_site():
    body = json.dumps({"lesion_sites": [], "duration_days": 3})
    with pytest.raises(InvalidInput) as error:
        validate_intake(Specialty.DERMATOLOGY, body, birth_date=BIRTH, today=TODAY)
    assert "lesion_sites" in fields_of(error.value)

import json
from datetime import date

import pytest

from server.clinical.intake import (
    DermatologyIntake,
    GrowthIntake,
    intake_to_json,
    validate_intake,
)
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


# -- boundaries: each range check, each required field, the order of measurements ----------

def refusals(specialty: Specialty, body: dict, birth_date: date = BIRTH) -> dict[str, str]:
    """The field errors of an intake, {} when it is accepted."""
    try:
        validate_intake(specialty, json.dumps(body), birth_date=birth_date, today=TODAY)
    except InvalidInput as error:
        return fields_of(error)
    return {}


def current(**changes) -> dict:
    return {"measured_on": "2026-11-18", "height_cm": 99.5, "weight_kg": 15.2, **changes}


@pytest.mark.parametrize(("field", "value", "message"), [
    # The lower ends admit a 22-week preterm baby (length and head under 35/25 cm).
    ("height_cm", 25, None), ("height_cm", 220, None),
    ("height_cm", 24.9, "must be between 25 and 220 cm"),
    ("height_cm", 220.1, "must be between 25 and 220 cm"),
    # Metres (×100) or 市尺 (×100/3): named when the reading is a length between 25 and 220 cm.
    ("height_cm", 0.24, "must be between 25 and 220 cm"),  # 24 cm either way
    ("height_cm", 0.25, "0.25 looks like metres; give it in cm"),
    ("height_cm", 0.749, "0.749 looks like metres; give it in cm"),
    ("height_cm", 0.75, "0.75 looks like metres (75 cm) or 市尺 (25.0 cm); give it in cm"),
    ("height_cm", 1.2, "1.2 looks like metres (120 cm) or 市尺 (40.0 cm); give it in cm"),
    ("height_cm", 2.2, "2.2 looks like metres (220 cm) or 市尺 (73.3 cm); give it in cm"),
    ("height_cm", 1.234, "1.234 looks like metres (123.4 cm) or 市尺 (41.1 cm); give it in cm"),
    # Conversions are compared to a millionth of a centimetre (2.2 × 100 is 220.00000000000003
    # in binary floating point).
    ("height_cm", 2.200000004,
     "2.200000004 looks like metres (220 cm) or 市尺 (73.3 cm); give it in cm"),
    ("height_cm", 2.21, "2.21 looks like 市尺 (2.21 尺 = 73.7 cm); give it in cm"),
    ("height_cm", 2.99, "2.99 looks like 市尺 (2.99 尺 = 99.7 cm); give it in cm"),
    ("height_cm", 3.6, "3.6 looks like 市尺 (3.6 尺 = 120.0 cm); give it in cm"),
    ("height_cm", 6.6, "6.6 looks like 市尺 (6.6 尺 = 220.0 cm); give it in cm"),
    ("height_cm", 6.600000012,
     "6.600000012 looks like 市尺 (6.600000012 尺 = 220.0 cm); give it in cm"),
    ("height_cm", 6.61, "must be between 25 and 220 cm"),
    ("weight_kg", 0.3, None), ("weight_kg", 200, None),
    ("weight_kg", 0.29, "must be between 0.3 and 200 kg"),
    ("weight_kg", 200.1, "must be between 0.3 and 200 kg"),
    ("weight_kg", 300, "must be between 0.3 and 200 kg"),  # not yet grams
    ("weight_kg", 300.5, "300.5 looks like grams; give it in kg"),
    ("head_circumference_cm", 15, None), ("head_circumference_cm", 65, None),
    ("head_circumference_cm", 14.9, "must be between 15 and 65 cm"),
    ("head_circumference_cm", 65.1, "must be between 15 and 65 cm"),
    ("head_circumference_cm", 0.99, "0.99 looks like metres; give it in cm"),
    ("head_circumference_cm", 1, "must be between 15 and 65 cm"),
])
def test_measurement_ranges_and_unit_hints_at_their_boundaries(field, value, message):
    found = refusals(Specialty.GROWTH_DEVELOPMENT, json.loads(growth(
        current=current(**{field: value}))))
    assert found == ({} if message is None else {f"current.{field}": f"Value error, {message}"})


@pytest.mark.parametrize(("path", "low", "high"), [
    (("birth", "gestational_age_weeks"), 22, 44),
    (("birth", "birth_weight_kg"), 0.3, 6.5),
    (("birth", "birth_length_cm"), 25, 65),
    (("father_height_cm",), 120, 230),
    (("mother_height_cm",), 120, 230),
])
def test_birth_data_and_parents_heights_at_their_boundaries(path, low, high):
    step = 1 if isinstance(low, int) and path[-1] == "gestational_age_weeks" else 0.1

    def body(value):
        b = json.loads(growth())
        if len(path) == 2:
            b[path[0]] = {path[1]: value}
        else:
            b[path[0]] = value
        return b

    field = ".".join(path)
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body(low)) == {}
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body(high)) == {}
    assert set(refusals(Specialty.GROWTH_DEVELOPMENT, body(round(low - step, 1)))) == {field}
    assert set(refusals(Specialty.GROWTH_DEVELOPMENT, body(round(high + step, 1)))) == {field}


def nutrition(**changes) -> dict:
    body = {"current": current(),
            "feeding": {"milk": "formula", "complementary_food_from_months": 6,
                        "meals_per_day": 3},
            "diet_record": [{"meal": "breakfast", "foods": "粥、鸡蛋", "amount": "1碗"}]}
    body.update(changes)
    return body


def test_a_complete_nutrition_intake_is_accepted():
    assert refusals(Specialty.NUTRITION, nutrition()) == {}


@pytest.mark.parametrize(("key", "low", "high"), [
    ("complementary_food_from_months", 0, 36), ("meals_per_day", 0, 12)])
def test_feeding_counts_at_their_boundaries(key, low, high):
    def body(value):
        return nutrition(feeding={"milk": "breast_mixed", key: value})

    assert refusals(Specialty.NUTRITION, body(low)) == {}
    assert refusals(Specialty.NUTRITION, body(high)) == {}
    assert set(refusals(Specialty.NUTRITION, body(low - 1))) == {f"feeding.{key}"}
    assert set(refusals(Specialty.NUTRITION, body(high + 1))) == {f"feeding.{key}"}


def test_a_diet_record_needs_at_least_one_meal_with_food():
    assert set(refusals(Specialty.NUTRITION, nutrition(diet_record=[]))) == {"diet_record"}
    assert set(refusals(Specialty.NUTRITION, nutrition(
        diet_record=[{"meal": "lunch", "foods": ""}]))) == {"diet_record.0.foods"}


def dermatology(**changes) -> dict:
    body = {"lesion_sites": [{"site": "cheek", "laterality": "left"}], "duration_days": 14}
    body.update(changes)
    return body


@pytest.mark.parametrize(("site", "ok"), [
    ("cheek", True), ("ab", True), ("nappy_area", True), ("a" * 40, True),
    ("a", False), ("a" * 41, False), ("Cheek", False), ("_cheek", False), ("1cheek", False),
    ("left-cheek", False), ("cheek area", False), ("", False), ("脸颊", False),
])
def test_a_lesion_site_must_look_like_a_body_site_code(site, ok):
    found = refusals(Specialty.DERMATOLOGY, dermatology(lesion_sites=[{"site": site}]))
    assert found == ({} if ok else {"lesion_sites.0.site": "Value error, not a body-site code"})


def test_dermatology_duration_sites_and_photos_at_their_boundaries():
    derm = Specialty.DERMATOLOGY
    assert refusals(derm, dermatology(duration_days=0)) == {}
    assert refusals(derm, dermatology(duration_days=6600)) == {}
    assert set(refusals(derm, dermatology(duration_days=-1))) == {"duration_days"}
    assert set(refusals(derm, dermatology(duration_days=6601))) == {"duration_days"}
    assert refusals(derm, dermatology(lesion_sites=[{"site": "cheek"}] * 20)) == {}
    assert set(refusals(derm, dermatology(lesion_sites=[{"site": "cheek"}] * 21))) == {
        "lesion_sites"}
    assert refusals(derm, dermatology(photo_ids=["0f" * 16] * 12)) == {}
    assert set(refusals(derm, dermatology(photo_ids=["0f" * 16] * 13))) == {"photo_ids"}
    assert set(refusals(derm, dermatology(photo_ids=["0F" * 16]))) == {"photo_ids.0"}
    assert set(refusals(derm, dermatology(duration_days=None))) == {"duration_days"}


@pytest.mark.parametrize("missing", ["height_cm", "weight_kg"])
@pytest.mark.parametrize("specialty", [Specialty.GROWTH_DEVELOPMENT, Specialty.NUTRITION])
def test_current_height_and_weight_are_required(specialty, missing):
    body = json.loads(growth()) if specialty is Specialty.GROWTH_DEVELOPMENT else nutrition()
    del body["current"][missing]
    assert refusals(specialty, body) == {f"current.{missing}": "required"}


def test_head_circumference_is_required_until_the_third_birthday_on_the_measuring_day():
    body = json.loads(growth(previous_measurements=[]))
    third_birthday = date(2023, 11, 18)  # the current measurement's day
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body, birth_date=third_birthday) == {}
    day_later = date(2023, 11, 19)
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body, birth_date=day_later) == {
        "current.head_circumference_cm": "required for children under 3"}
    body["current"]["head_circumference_cm"] = 47.0
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body, birth_date=day_later) == {}


def test_a_measurement_on_the_day_of_birth_or_today_is_accepted():
    body = json.loads(growth(current=current(measured_on=TODAY.isoformat()),
                             previous_measurements=[
                                 {"measured_on": BIRTH.isoformat(), "weight_kg": 3.2}]))
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body) == {}


@pytest.mark.parametrize("given", [{"height_cm": 50.0}, {"weight_kg": 3.5},
                                   {"head_circumference_cm": 35.0}])
def test_a_previous_measurement_needs_any_one_value(given):
    body = json.loads(growth(previous_measurements=[{"measured_on": "2024-01-01", **given}]))
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body) == {}
    body["previous_measurements"].append({"measured_on": "2024-06-01"})
    assert refusals(Specialty.GROWTH_DEVELOPMENT, body) == {
        "previous_measurements.1": "holds no measurement"}


def test_previous_measurements_come_before_the_current_one_and_once_per_day():
    def previous(*days):
        return json.loads(growth(previous_measurements=[
            {"measured_on": d, "weight_kg": 14.0} for d in days]))

    growth_ = Specialty.GROWTH_DEVELOPMENT
    assert refusals(growth_, previous("2026-11-17", "2025-01-01")) == {}
    assert refusals(growth_, previous("2026-11-19")) == {
        "previous_measurements.0.measured_on": "must be before the current measurement"}
    with pytest.raises(InvalidInput) as error:
        validate_intake(growth_, json.dumps(previous("2026-11-18")), birth_date=BIRTH,
                        today=TODAY)
    assert [(e.field, e.message) for e in error.value.errors] == [
        ("previous_measurements.0.measured_on", "must be before the current measurement"),
        ("previous_measurements.0.measured_on", "a measurement on this date is already given")]
    assert refusals(growth_, previous("2025-01-01", "2024-03-03", "2025-01-01")) == {
        "previous_measurements.2.measured_on": "a measurement on this date is already given"}


def test_the_intake_is_stored_as_plain_json():
    intake = validate_intake(Specialty.GROWTH_DEVELOPMENT, growth(), birth_date=BIRTH,
                             today=TODAY)
    stored = intake_to_json(intake)
    assert stored["current"] == {"measured_on": "2026-11-18", "height_cm": 99.5,
                                 "position": None, "weight_kg": 15.2,
                                 "head_circumference_cm": None, "weight_kg_confirmed": False}
    assert json.loads(json.dumps(stored)) == stored

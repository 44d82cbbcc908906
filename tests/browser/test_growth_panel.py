"""A growth & development consult, booked through the admin API with the guardian's intake
sent over HTTP: the physician's lobby shows the WHO assessment (z-scores, percentiles, flags,
velocity, target height), an implausible value marked for re-measuring, and the growth charts
drawn as SVG with the reference curves and the child's own points."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

pytestmark = pytest.mark.browser


def growth_intake(today: date) -> dict:
    """Three measurements of a short 4½-year-old girl; the oldest height is a typo (70 cm)."""
    return {
        "current": {"measured_on": (today - timedelta(days=5)).isoformat(), "height_cm": 95,
                    "weight_kg": 14, "position": "standing"},
        "previous_measurements": [
            {"measured_on": (today - timedelta(days=189)).isoformat(), "height_cm": 91,
             "weight_kg": 13.1, "position": "standing"},
            {"measured_on": (today - timedelta(days=370)).isoformat(), "height_cm": 70,
             "weight_kg": 12.1, "position": "standing"},
        ],
        "father_height_cm": 175, "mother_height_cm": 160, "concerns": "比同龄孩子矮",
    }


async def test_growth_consult_shows_assessment_and_charts(server, physician):
    today = date.today()
    birth = today - timedelta(days=4 * 365 + 180)
    booked = server.book_consult("growth_development", birth_date=birth.isoformat())
    guardian_token = booked["guardian"].split("#", 1)[1]
    server.api("POST", f"/api/consults/{booked['id']}/recording-notice", token=guardian_token)
    server.api("PUT", f"/api/consults/{booked['id']}/intake", growth_intake(today),
               token=guardian_token)

    page = physician.page
    await page.goto(booked["physician"])
    await physician.screen("lobby")
    panel = page.locator("#lobby-growth")
    await panel.locator("svg.growth-chart").wait_for(timeout=15_000)

    # The assessment: z-scores with percentiles, the WHO flag by name, velocity, target.
    text = await panel.text_content()
    assert "Z=-2.4" in text and "生长迟缓" in text, text
    assert "cm/年" in text and "遗传靶身高" in text and "161" in text, text
    # The 70 cm typo is not read as a z-score: it says "re-measure", in red.
    assert await panel.locator(".remeasure").is_visible()
    assert await panel.locator(".cell-implausible").count() >= 1
    assert "请复测" in await panel.locator(".cell-implausible").first.text_content()

    # Height-for-age first: the WHO percentile curves and the child's three points, one of
    # them marked implausible on the chart too.
    chart = panel.locator("svg.growth-chart")
    assert await chart.locator(".gc-curve path").count() >= 5
    assert await chart.locator(".gc-point").count() == 3
    assert await chart.locator(".gc-implausible").count() == 1
    await physician.screenshot("physician-lobby-growth", full_page=True)

    # Another chart through its tab: weight-for-age, with the child's weights.
    await panel.get_by_role("tab", name="体重-年龄").click()
    await page.wait_for_function("document.querySelector("
                                 "'#lobby-growth .chart-tab[aria-selected=true]').dataset.chart"
                                 " === 'wfa'")
    assert await chart.locator(".gc-point").count() == 3
    assert await page.locator("#lobby-growth svg.growth-chart .gc-curve path").count() >= 5

    # The call's side panel has the same assessment ready (drawn while hidden).
    assert await page.locator("#call-growth svg.growth-chart").count() == 1

    # In English, table and chart alike (the chart is drawn again in the new language).
    await page.click("#lang")
    await page.wait_for_function(
        "document.querySelector('#lobby-growth svg.growth-chart').textContent"
        ".includes('Weight-for-age')")
    assert "stunted" in await panel.text_content()
    await page.click("#lang")
    assert physician.errors == [], physician.errors

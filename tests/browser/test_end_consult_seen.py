"""What the physician sees after 确认结束问诊, for each outcome: the dialog closes, the outcome
is on screen, and no "操作没有成功" is left anywhere visible a few seconds later. (The room's
`ended` reaches the physician's own page before the `end` acknowledgement does; the page
must take that as the end having succeeded, not wait for an ack that never comes.)"""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.browser

# Long enough for an unanswered `end` to have been reported, short of the ack timeout only
# if the page fails fast (it reports a lost ack as soon as its socket closes).
SETTLE_S = 4
RECORDED = {"completed": "问诊已完成，结果已记录。", "referred": "已转线下就诊，转诊单已记录。",
            "aborted": "问诊已中止，已记录。"}


async def fill_completed(dialog) -> None:
    await dialog.get_by_label("诊断").fill("婴儿湿疹")
    await dialog.get_by_label("医嘱").fill("保湿，避免搔抓。")


async def fill_referred(dialog) -> None:
    await dialog.get_by_label("转诊原因").select_option("possible_emergency")
    await dialog.locator(".urgency").get_by_text("请立即前往急诊科").click()
    await dialog.get_by_label("就诊科室").select_option("paediatric_emergency")


async def fill_aborted(dialog) -> None:
    await dialog.get_by_label("中止原因").select_option("technical_failure")
    await dialog.get_by_text("重新预约").click()


FILL = {"completed": fill_completed, "referred": fill_referred, "aborted": fill_aborted}


@pytest.mark.parametrize("outcome", ["completed", "referred", "aborted"])
async def test_ending_shows_the_outcome_and_no_false_failure(
        physician, guardian, consult, meet, outcome):
    await meet(physician, guardian, consult)
    doctor = physician.page
    await doctor.click("#confirm-guardian")
    await doctor.wait_for_function(
        "document.getElementById('guardian-confirmed-text').textContent.includes('已确认')")

    await doctor.click(f".quick-outcome[data-outcome={outcome}]")
    dialog = doctor.locator("#end-dialog")
    await FILL[outcome](dialog)
    await doctor.click("#end-ok")

    await physician.screen("ended", timeout_s=15)
    await asyncio.sleep(SETTLE_S)
    await physician.screenshot(f"physician-ended-{outcome}")
    assert not await dialog.evaluate("d => d.open"), "the outcome dialog is still open"
    visible_text = await doctor.evaluate("() => document.body.innerText")
    assert "操作没有成功" not in visible_text, visible_text
    assert RECORDED[outcome] in visible_text, visible_text
    assert physician.errors == [], physician.errors

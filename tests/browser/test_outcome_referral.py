"""The physician ends the consult with an offline referral through the outcome dialog: the
server's refusals land next to the fields (a controlled drug next to its prescription row,
missing referral fields next to each field); once accepted, the guardian's phone shows the
emergency instruction first, the reference number big, the department and the instructions,
and shows the same again when the link is opened later. Printable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.browser

REFERENCE = re.compile(r"^ZZ(\d{8})-[0-9A-HJKMNP-TV-Z]{6}$")
INSTRUCTIONS = "请带上孩子的病历本和正在使用的药膏，尽快前往。"


async def test_referral_reaches_the_guardian_with_its_reference_number(
        physician, guardian, consult, meet):
    await meet(physician, guardian, consult)
    doctor, phone = physician.page, guardian.page
    await doctor.click("#confirm-guardian")
    await doctor.wait_for_function(
        "document.getElementById('guardian-confirmed-text').textContent.includes('已确认')")

    # First a prescription with a drug that is never prescribed online: refused, and the
    # reason is under that row.
    await doctor.click(".quick-outcome[data-outcome=completed]")
    dialog = doctor.locator("#end-dialog")
    await dialog.get_by_label("诊断").fill("婴儿湿疹")
    await dialog.get_by_role("button", name="+ 添加药品").click()
    row = dialog.locator(".rx-row").first
    for label, value in (("药品（通用名）", "地西泮"), ("规格", "2mg"), ("每次用量", "1片"),
                         ("频次", "每日1次"), ("疗程（天）", "3"), ("总量", "3片")):
        await row.get_by_label(label).fill(value)
    await row.get_by_label("用法").select_option("oral")
    await doctor.click("#end-ok")
    row_error = row.locator(".rx-row-error")
    await row_error.wait_for(state="visible", timeout=10_000)
    assert "地西泮：麻醉药品和精神药品不能在线开具" in await row_error.text_content()
    await physician.screenshot("physician-outcome-controlled-drug")

    # Then the referral, sent with nothing chosen: each missing field says so.
    await dialog.locator(".outcome-choices").get_by_text("转线下就诊").click()
    await doctor.click("#end-ok")
    department_error = dialog.locator('[data-error-path="referral.department"]')
    await department_error.wait_for(state="visible", timeout=10_000)
    assert await department_error.text_content() == "必填"
    assert await dialog.locator('[data-error-path="referral.urgency"]').is_visible()

    await dialog.get_by_label("转诊原因").select_option("possible_emergency")
    await dialog.locator(".urgency").get_by_text("请立即前往急诊科").click()
    await dialog.get_by_label("就诊科室").select_option("paediatric_emergency")
    await dialog.get_by_label("医院（选填）").fill("市儿童医院")
    await dialog.get_by_label("给家属的说明").fill(INSTRUCTIONS)
    await dialog.get_by_label("建议检查").fill("血常规\nC反应蛋白")
    await physician.screenshot("physician-outcome-referral")
    await doctor.click("#end-ok")

    # The guardian's phone at once: emergency first, then the number, department, what to do.
    await guardian.screen("ended", timeout_s=15)
    assert await phone.is_visible("#ended-emergency")
    assert await phone.text_content("#ended-emergency") == "请立即前往急诊科"
    reference = (await phone.text_content("#reference-number")).strip()
    found = REFERENCE.match(reference)
    assert found, reference
    beijing = datetime.now(UTC) + timedelta(hours=8)
    assert found.group(1) in {beijing.strftime("%Y%m%d"), datetime.now(UTC).strftime("%Y%m%d")}
    page_text = await phone.text_content("#ended-referral")
    assert "儿科急诊" in page_text and "市儿童医院" in page_text and INSTRUCTIONS in page_text
    assert "血常规 / C反应蛋白" in page_text
    # Emergency before anything else on the page.
    order = await phone.evaluate("""() => {
      const all = [...document.querySelectorAll('section[data-screen=ended] *')];
      return [all.indexOf(document.getElementById('ended-emergency')),
              all.indexOf(document.getElementById('reference-number'))];
    }""")
    assert 0 <= order[0] < order[1], order
    await guardian.screenshot("guardian-referral-emergency", full_page=True)

    # The physician's page shows the same number.
    await physician.screen("ended")
    assert (await doctor.text_content("#reference-number")).strip() == reference

    # Printable: the outcome card and nothing of the page's controls.
    await phone.emulate_media(media="print")
    assert not await phone.is_visible("#print-button")
    assert await phone.is_visible("#reference-number")
    await guardian.screenshot("guardian-referral-print", full_page=True)
    await phone.emulate_media(media="screen")

    # The guardian opens the link again later: the same outcome, straight away.
    await phone.goto("about:blank")
    await phone.goto(consult["guardian"])
    await guardian.screen("ended")
    assert (await phone.text_content("#reference-number")).strip() == reference
    assert await phone.is_visible("#ended-emergency")
    assert guardian.errors == [] and physician.errors == [], (guardian.errors, physician.errors)

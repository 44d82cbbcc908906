"""The outcome dialog and the prescription rules: a listed drug is named as such while it is
typed (the catalogue's names offered with their class); a row of 30 days asks for its reason and
the server's refusal without one lands under the row; with the reason, a prescription for
the 4-year-old of the booking is refused until an accompanying physician is recorded: the
page says why and that the child can be referred offline, and asks for the accompanying
physician in the dialog; once recorded, the consult ends with the prescription."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


async def test_long_supply_reason_and_the_under_six_refusal(physician, guardian, consult, meet):
    await meet(physician, guardian, consult)
    doctor = physician.page
    await doctor.click("#confirm-guardian")
    await doctor.wait_for_function(
        "document.getElementById('guardian-confirmed-text').textContent.includes('已确认')")
    await doctor.click(".quick-outcome[data-outcome=completed]")
    dialog = doctor.locator("#end-dialog")
    await dialog.get_by_label("诊断").fill("特应性皮炎")
    await dialog.get_by_role("button", name="+ 添加药品").click()
    row = dialog.locator(".rx-row").first
    reason = row.get_by_label("用量30天及以上的理由")

    # Typing a listed name: the catalogue's names are offered with their class, and the row
    # says at once that this one cannot be prescribed online.
    await row.get_by_label("药品（通用名）").fill("利他林")
    warning = row.locator(".rx-drug-warning")
    await warning.wait_for(state="visible", timeout=10_000)
    assert await warning.text_content() == "哌甲酯（第一类精神药品）：不能在线开具"
    options = await row.locator("datalist option").evaluate_all(
        "options => options.map(o => [o.value, o.label])")
    assert options == [["利他林", "哌甲酯（第一类精神药品）：不能在线开具"]]
    for label, value in (("药品（通用名）", "丁酸氢化可的松乳膏"), ("规格", "0.1%"),
                         ("每次用量", "薄涂"), ("频次", "每日2次"), ("疗程（天）", "29"),
                         ("总量", "1支")):
        await row.get_by_label(label).fill(value)
    await row.get_by_label("用法").select_option("topical")
    await warning.wait_for(state="hidden", timeout=10_000)
    assert not await reason.is_visible()
    await row.get_by_label("疗程（天）").fill("30")
    assert await reason.is_visible()

    await doctor.click("#end-ok")
    row_error = row.locator(".rx-row-error")
    await row_error.wait_for(state="visible", timeout=10_000)
    assert "用量达到30天及以上，请写明理由" in await row_error.text_content()

    await reason.fill("慢性湿疹维持治疗")
    await doctor.click("#end-ok")
    end_error = doctor.locator("#end-error")
    await doctor.wait_for_function(
        "document.getElementById('end-error').textContent.includes('未满6周岁')",
        timeout=10_000)
    text = await end_error.text_content()
    assert "陪同医师" in text and "转线下就诊" in text
    form = dialog.locator(".accompanying-physician")
    assert await form.is_visible()
    await physician.screenshot("physician-prescription-under-six")

    await form.get_by_label("姓名").fill("张医生")
    await form.get_by_label("执业证书编码").fill("x")
    await form.get_by_label("所在机构").fill("社区卫生服务中心")
    await doctor.click("#end-ok")
    licence_error = form.locator('[data-error-path="accompanying.licence_number"]')
    await licence_error.wait_for(state="visible", timeout=10_000)
    assert "6–40位" in await licence_error.text_content()

    await form.get_by_label("执业证书编码").fill("110105199001")
    await doctor.click("#end-ok")
    await physician.screen("ended", timeout_s=15)
    assert physician.errors == [], physician.errors

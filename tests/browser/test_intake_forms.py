"""The intake forms of the two specialties the demo consult does not use (growth, nutrition),
filled in on a phone the way a guardian would, must produce exactly what the server's own
validator accepts; and a server error about a row lands next to that row's field."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from server.clinical.intake import validate_intake
from server.clinical.specialties import Specialty

pytestmark = pytest.mark.browser

BIRTH = "2024-09-10"  # under 3: head circumference is asked for
MOUNT_FORM_JS = """async ({specialty, birthDate}) => {
  const { IntakeForm } = await import("/static/js/call/intake-form.js");
  const { show } = await import("/static/js/call/screens.js");
  window.__form = new IntakeForm({specialty, schema: null, birthDate, initial: null,
                                  submit: async () => {}});
  document.getElementById("intake-form-slot").replaceChildren(window.__form.node);
  show("intake");
}"""


def beijing_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def fill_measurements(form) -> None:
    current = form.locator("fieldset", has_text="本次测量")
    await current.get_by_label("身高").fill("84.5")
    await current.get_by_label("体重").fill("１１.２")  # full-width, as a Chinese keyboard types
    await current.get_by_label("头围").fill("47")
    await form.get_by_role("button", name="+ 添加一条记录").click()
    earlier = form.locator(".measurement-row").first
    await earlier.get_by_label("测量日期").fill("2025-09-10")
    await earlier.get_by_label("体重").fill("9.6")


async def test_growth_and_nutrition_forms_give_what_the_server_accepts(consult, guardian):
    page = guardian.page
    await page.goto(consult["guardian"])
    await guardian.screen("notice")

    await page.evaluate(MOUNT_FORM_JS, {"specialty": "growth_development", "birthDate": BIRTH})
    form = page.locator(".intake-form")
    await fill_measurements(form)
    await form.get_by_label("父亲身高").fill("176")
    await form.get_by_label("母亲身高").fill("160")
    await form.get_by_label("您最担心的问题").fill("比同龄孩子矮")
    growth = await page.evaluate("window.__form.value()")
    assert growth["current"]["weight_kg"] == 11.2
    assert growth["previous_measurements"] == [{"measured_on": "2025-09-10", "weight_kg": 9.6}]
    intake = validate_intake(Specialty.GROWTH_DEVELOPMENT, json.dumps(growth),
                             birth_date=date.fromisoformat(BIRTH), today=beijing_today())
    assert intake.father_height_cm == 176

    # The server names a row's field; the message appears under that field, in Chinese.
    await page.evaluate("""window.__form.showServerErrors([{
        field: "previous_measurements.0.measured_on",
        message: "must be before the current measurement"}])""")
    row = form.locator(".measurement-row").first
    row_error = row.locator(".field", has=page.get_by_label("测量日期")).locator(".field-error")
    assert await row_error.text_content() == "以往记录的日期须早于本次测量"
    await guardian.screenshot("guardian-growth-intake-row-error")

    await page.evaluate(MOUNT_FORM_JS, {"specialty": "nutrition", "birthDate": BIRTH})
    form = page.locator(".intake-form")
    await fill_measurements(form)
    await form.get_by_label("目前喝什么奶").select_option("formula")
    await form.get_by_label("营养补充剂").fill("维生素D\n铁剂")
    await form.get_by_label("挑食、偏食").check()
    breakfast = form.locator(".diet-row").first
    await breakfast.get_by_label("吃了什么").fill("小米粥、鸡蛋")
    await breakfast.get_by_label("大约多少").fill("一小碗")
    nutrition = await page.evaluate("window.__form.value()")
    # Lunch and dinner rows were left blank (only their meal preset): not sent.
    assert nutrition["diet_record"] == [
        {"meal": "breakfast", "foods": "小米粥、鸡蛋", "amount": "一小碗"}]
    assert nutrition["feeding"]["supplements"] == ["维生素D", "铁剂"]
    intake = validate_intake(Specialty.NUTRITION, json.dumps(nutrition),
                             birth_date=date.fromisoformat(BIRTH), today=beijing_today())
    assert intake.feeding.picky_eating is True
    assert guardian.errors == [], guardian.errors


async def test_a_weight_in_jin_is_asked_about_in_chinese_and_can_be_confirmed(consult, guardian):
    page = guardian.page
    await page.goto(consult["guardian"])
    await guardian.screen("notice")
    await page.evaluate(MOUNT_FORM_JS, {"specialty": "growth_development", "birthDate": BIRTH})
    form = page.locator(".intake-form")
    await fill_measurements(form)
    current = form.locator("fieldset", has_text="本次测量")
    confirm = current.get_by_label("我确认单位是公斤（千克），不是斤")
    assert not await confirm.is_visible()
    assert "weight_kg_confirmed" not in (await page.evaluate("window.__form.value()"))["current"]

    # The server's question (server/clinical/growth/plausibility.py), under the weight.
    await page.evaluate("""window.__form.showServerErrors([{field: "current.weight_kg",
        message:
          "80 looks like 斤 (80 斤 = 40 kg); give it in kg, or confirm that it is 80 kg"}])""")
    weight_input = current.get_by_role("textbox", name="体重（公斤）")
    weight_field = current.locator(".field", has=page.get_by_role("textbox", name="体重（公斤）"))
    assert await weight_field.locator(".field-error").text_content() == (
        "看起来填的是“斤”（80 斤 = 40 公斤），请以公斤填写；如果确实是 80 公斤，请勾选下面的确认")
    await confirm.check()
    assert (await page.evaluate("window.__form.value()"))["current"]["weight_kg_confirmed"] is True
    # A new weight withdraws the confirmation: it was given for the value asked about.
    await weight_input.fill("40")
    assert not await confirm.is_visible()
    assert "weight_kg_confirmed" not in (await page.evaluate("window.__form.value()"))["current"]

    # The other unit and plausibility messages read in Chinese too.
    for message, expected in [
        ("3.6 looks like 市尺 (3.6 尺 = 120.0 cm); give it in cm",
         "看起来填的是“市尺”（约 120.0 厘米），请以厘米填写"),
        ("1.2 looks like metres (120 cm) or 市尺 (40.0 cm); give it in cm",
         "看起来填的是“米”（120 厘米）或“市尺”（40.0 厘米），请以厘米填写"),
        ("95 kg is not plausible at 12 m: Weight-for-age z = +63.13 (WHO flags z < -6 or > +5); "
         "measure again and check the unit", "95 kg 与孩子的年龄不符，请重新测量并检查单位"),
    ]:
        await page.evaluate("(m) => window.__form.showServerErrors([{field: 'current.weight_kg',"
                            " message: m}])", message)
        assert await weight_field.locator(".field-error").text_content() == expected

"""The admin page in Debian's chromium: the key, the report as tables, the delivery status
and the retry button, in Chinese first and then English."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from ..conftest import ADMIN_KEY
from .conftest import REFERRED, book, bring_into_call, end_through_api, eventually, make_physician

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_admin_page_shows_the_report_and_retries_a_failing_event(nodes, receiver):
    receiver.set_mode("503")
    # Slow automatic retries: what gets the events out here is the page's retry button.
    api = await nodes(event_retry_base_seconds=60, event_retry_cap_seconds=120)
    physician = await make_physician(api)
    booked = await book(api, physician["id"], specialty="dermatology")
    await bring_into_call(api, booked)
    await end_through_api(api, booked, REFERRED)

    async def failing():
        body = await (await api.client.get("/api/events?status=retrying",
                                           headers=api.admin)).json()
        return body["events"]
    await eventually(failing)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=["--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(str(api.client.make_url("/static/admin.html")))
            await page.get_by_text("请先输入管理员密钥。").wait_for()
            await page.fill("#key", ADMIN_KEY)
            await page.fill("#from", "2026-11-20")
            await page.fill("#to", "2026-11-20")
            await page.get_by_role("button", name="使用此密钥").click()
            await page.get_by_text("统计期间：2026-11-20 至 2026-11-20").wait_for()
            assert await page.get_by_role("cell", name="儿童皮肤科").count() == 1
            assert await page.get_by_role("cell", name="需要体格检查").count() == 1
            await page.get_by_role("cell", name="referral.created").wait_for()
            assert await page.evaluate("sessionStorage.getItem('shouzhen.adminKey')") == \
                ADMIN_KEY

            receiver.set_mode("up")
            assert receiver.received == []
            await page.get_by_role("button", name="立即重试").first.click()
            await page.get_by_text("已安排立即重试。").wait_for()
            await receiver.wait_for(2)
            await page.get_by_role("button", name="English").click()
            await page.get_by_text("Quality and safety report").wait_for()
            await page.get_by_role("button", name="Refresh").click()
            await page.locator("td span.ok", has_text="Delivered").first.wait_for()
            assert errors == []
        finally:
            await browser.close()

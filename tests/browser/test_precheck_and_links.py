"""The screens before the call, on a phone: dead links, the language switch, the intake's
server-side errors shown next to their field, and what a guardian reads when the camera
cannot be used (permission refused inside WeChat, a page not on HTTPS)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 10; V1936A) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560 NetType/4G")
REFUSE_CAMERA_JS = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
NOT_SECURE_JS = "Object.defineProperty(window, 'isSecureContext', {get: () => false});"


async def to_intake(guardian, link: str) -> None:
    await guardian.page.goto(link)
    await guardian.screen("notice")
    await guardian.page.click("#notice-accept")
    await guardian.screen("intake")


async def to_precheck(page, link: str, body_site: str) -> None:
    """A guardian's own browser context through the notice and a minimal dermatology intake."""
    await page.goto(link)
    await page.wait_for_function("window.__shouzhen.state === 'notice'")
    await page.click("#notice-accept")
    await page.wait_for_function("window.__shouzhen.state === 'intake'")
    await page.select_option(".site-row select >> nth=0", body_site)
    await page.get_by_label("出现多久了").fill("3")
    await page.click(".intake-form button[type=submit]")
    await page.wait_for_function("window.__shouzhen.state === 'precheck'")


async def test_a_tampered_or_missing_link_says_so(server, consult, guardian):
    token = consult["guardian"].split("#", 1)[1]
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    await guardian.page.goto(f"{server.url}/join#{tampered}")
    await guardian.screen("dead")
    assert await guardian.page.text_content("#dead-title") == "链接无效"
    assert "tampered" in await guardian.page.text_content("#dead-detail")
    await guardian.screenshot("guardian-dead-link")

    # A fresh tab with no link at all (the token lives in this tab's sessionStorage only).
    other = await guardian.context.new_page()
    await other.goto(f"{server.url}/join")
    await other.wait_for_function("window.__shouzhen.state === 'dead'")
    assert await other.text_content("#dead-title") == "没有找到问诊链接"


async def test_language_switch_changes_every_visible_string(consult, guardian):
    await guardian.page.goto(consult["guardian"])
    await guardian.screen("notice")
    assert await guardian.page.text_content("#notice-accept") == "我已知晓并同意，继续"
    await guardian.page.click("#lang")
    assert await guardian.page.text_content("#notice-accept") == "I understand and agree — continue"
    summary = await guardian.page.text_content("#notice-summary")
    assert "Paediatric dermatology" in summary and "girl" in summary and "(mother)" in summary
    assert await guardian.page.evaluate("document.documentElement.lang") == "en"
    # Remembered: the next page load is in English too.
    await guardian.page.reload()
    await guardian.screen("notice")
    assert await guardian.page.text_content("#notice-accept") == "I understand and agree — continue"
    await guardian.page.click("#lang")
    assert await guardian.page.text_content("#notice-accept") == "我已知晓并同意，继续"


async def test_intake_errors_from_the_server_appear_next_to_their_field(consult, guardian):
    await to_intake(guardian, consult["guardian"])
    form = guardian.page.locator(".intake-form")
    await form.locator(".site-row select").nth(0).select_option("nose")
    # The nose has one side only: the side is chosen for the guardian.
    assert await form.locator(".site-row select").nth(1).input_value() == "midline"
    # Light client checks pass (a whole number); the server's range (≤ 6600 days) does not.
    await form.get_by_label("出现多久了").fill("99999")
    await form.locator("button[type=submit]").click()
    duration = form.locator(".field", has=guardian.page.get_by_label("出现多久了"))
    error = duration.locator(".field-error")
    await error.wait_for(state="visible", timeout=10_000)
    assert await error.text_content() == "不能大于 6600"
    assert await guardian.page.evaluate("window.__shouzhen.state") == "intake"
    await guardian.screenshot("guardian-intake-server-error")

    # Full-width digits, as a Chinese keyboard types them, are understood.
    await form.get_by_label("出现多久了").fill("１２")
    await form.locator("button[type=submit]").click()
    await guardian.screen("precheck")


async def test_camera_refused_in_wechat_explains_how_to_allow_it(browser, consult):
    context = await browser.new_context(locale="zh-CN", user_agent=WECHAT_UA,
                                        viewport={"width": 360, "height": 640},
                                        is_mobile=True, has_touch=True)
    await context.add_init_script(REFUSE_CAMERA_JS)
    page = await context.new_page()
    try:
        await to_precheck(page, consult["guardian"], "forearm")
        await page.click("#precheck-slot button.primary")
        problem = page.locator("#precheck-slot .problem")
        await problem.wait_for(state="visible")
        text = await problem.text_content()
        assert "权限被拒绝" in text and "在浏览器中打开" in text, text
        # "Open in browser" opens the address bar's URL: the link is put back for it.
        assert "#ey" in page.url
        await page.click("#join-button")
        assert "需要摄像头或麦克风" in await page.text_content("#join-error")
        SCREENSHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "guardian-wechat-denied.png"))
    finally:
        await context.close()


async def test_a_page_not_on_https_says_the_camera_needs_it(browser, consult):
    context = await browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 640},
                                        is_mobile=True, has_touch=True)
    await context.add_init_script(NOT_SECURE_JS)
    page = await context.new_page()
    try:
        await to_precheck(page, consult["guardian"], "palm")
        text = await page.locator("#precheck-slot .problem").text_content()
        assert "https" in text and "不是安全连接" in text, text
        assert not await page.is_visible("#precheck-slot button.primary")
    finally:
        await context.close()


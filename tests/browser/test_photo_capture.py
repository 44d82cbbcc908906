"""The physician asks for a photo of the left cheek; the guardian's phone shows the request
full screen, takes the still at the camera's full resolution (Chromium's fake camera: larger
than the call's 720p) and uploads it with the one-time capture token; the physician's gallery
shows it, opens it full size and zooms."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

# The fake camera's largest size, from the call's own video track.
CAMERA_MAX_JS = """() => {
  const sender = window.__shouzhen.pc.getSenders().find((s) => s.track && s.track.kind === "video");
  const caps = sender.track.getCapabilities();
  return {width: caps.width.max, height: caps.height.max};
}"""


def token_of(link: str) -> str:
    return link.split("#", 1)[1]


async def test_device_capture_reaches_the_gallery_at_full_resolution(
        server, physician, guardian, consult, meet, poll):
    await meet(physician, guardian, consult)
    doctor, phone = physician.page, guardian.page
    # The recording indicator follows the server's `recording` event on both sides.
    for page in (doctor, phone):
        assert await page.get_attribute("#recording-indicator", "data-status") == "recording"

    # Before presence is confirmed, the server refuses and the physician is told why.
    await doctor.select_option("#capture-site", "cheek")
    await doctor.select_option("#capture-side", "left")
    await doctor.click("#capture-button")
    await doctor.wait_for_function(
        "document.getElementById('capture-request-status').textContent.includes('确认监护人在场')")

    await doctor.click("#confirm-guardian")
    await doctor.wait_for_function(
        "document.getElementById('guardian-confirmed-text').textContent.includes('已确认')")
    await doctor.click("#capture-button")
    await doctor.wait_for_function(
        "document.getElementById('capture-request-status').textContent.includes('已请监护人拍摄')")

    # The phone: the request full screen, in words, with the framing guide over the camera.
    await phone.wait_for_selector("#capture-overlay:not([hidden])", timeout=10_000)
    assert await phone.text_content("#capture-title") == "医生请您拍摄：左侧面颊（近景特写）"
    assert await phone.is_visible(".framing-guide")
    await phone.wait_for_function("!document.getElementById('capture-shoot').disabled")
    await phone.wait_for_function(
        "document.getElementById('capture-preview').videoWidth > 0", timeout=10_000)
    await guardian.screenshot("guardian-capture-prompt")
    camera_max = await phone.evaluate(CAMERA_MAX_JS)

    await phone.click("#capture-shoot")
    await phone.wait_for_function(
        "document.getElementById('capture-status').dataset.tone", timeout=30_000)
    status = await phone.text_content("#capture-status")
    assert "已上传" in status, status
    await guardian.screenshot("guardian-capture-uploaded")
    still = await phone.evaluate("window.__shouzhen.lastStill")
    # Taken at the camera's largest size (3840×2160 for the fake camera), not the call's 720p.
    assert (still["width"], still["height"]) == (camera_max["width"], camera_max["height"]), still
    assert (still["track"]["width"], still["track"]["height"]) == (still["width"], still["height"])
    assert still["width"] > 1280

    # Stored at that size.
    doctor_token = token_of(consult["physician"])
    consult_id = server.api("GET", "/api/session", token=doctor_token)["consult_id"]
    photos = server.api("GET", f"/api/consults/{consult_id}/photos", token=doctor_token)["photos"]
    device = [p for p in photos if p["source"] == "device"]
    assert len(device) == 1, photos
    photo = device[0]
    assert (photo["width"], photo["height"]) == (camera_max["width"], camera_max["height"])
    assert (photo["body_site"], photo["laterality"], photo["view"]) == ("cheek", "left", "close_up")

    # The physician's gallery: the thumbnail (fetched with the bearer token as a blob),
    # where it came from, and the site in words.
    card = doctor.locator(f'#gallery li[data-photo-id="{photo["id"]}"]')
    await card.locator('img.thumb[src^="blob:"]').wait_for(timeout=10_000)
    caption = await card.text_content()
    assert "左侧面颊（特写）" in caption and "手机相机" in caption, caption
    assert f"{photo['width']}×{photo['height']}" in caption
    # The server's still from the video stream arrives too, as the fallback.
    await doctor.locator('#gallery li[data-source="stream"]').first.wait_for(timeout=15_000)
    # Scroll the side panel (only it: the call screen itself never scrolls) to the gallery.
    await doctor.evaluate("""() => {
      const panel = document.getElementById("side-panel");
      const head = document.querySelector(".gallery-head");
      panel.scrollTop += head.getBoundingClientRect().top - panel.getBoundingClientRect().top - 12;
    }""")
    await physician.screenshot("physician-gallery")

    # Full size, then zoom with the wheel about the pointer.
    await card.locator(".thumb-button").click()
    viewer = doctor.locator("#photo-viewer")
    await viewer.locator('img.viewer-image[src^="blob:"]').wait_for(timeout=10_000)
    assert await doctor.evaluate(
        "document.querySelector('#photo-viewer .viewer-image').naturalWidth") == photo["width"]
    frame = viewer.locator(".zoom-frame")
    box = await frame.bounding_box()
    await doctor.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await doctor.mouse.wheel(0, -600)
    transform = await viewer.locator(".viewer-image").evaluate("img => img.style.transform")
    scale = float(re.search(r"scale\(([\d.]+)\)", transform).group(1))
    assert scale > 1.5, transform
    await doctor.click("#viewer-close")

    # Side by side: the device photo and the stream still.
    await card.locator(".compare-pick input").check()
    await doctor.locator('#gallery li[data-source="stream"] .compare-pick input').first.check()
    await doctor.click("#compare-button")
    await doctor.wait_for_function(
        "document.querySelectorAll('#viewer-panes img.viewer-image[src^=\"blob:\"]').length === 2",
        timeout=10_000)
    await physician.screenshot("physician-photo-compare")
    await doctor.click("#viewer-close")

    # The phone went back to the call and said what was kept, and when.
    await phone.wait_for_selector("#capture-overlay", state="hidden", timeout=15_000)
    await phone.wait_for_selector("#capture-toast:not([hidden])", timeout=15_000)
    assert "左侧面颊" in await phone.text_content("#capture-toast")
    await guardian.screenshot("guardian-photo-kept")
    assert guardian.errors == [] and physician.errors == [], (guardian.errors, physician.errors)

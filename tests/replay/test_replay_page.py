"""The auditor's page in Debian's chromium: open a consult that was really held, both
recordings play, the one seek bar moves both, a timeline event seeks both, Verify says the
archive is intact — and the browser's many range requests are audited once per segment."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from server.kernel.models import AuditEntryRow

from ..conftest import AUDITOR_KEY

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
TOLERANCE_S = 0.4  # the player corrects drift beyond 0.35 s by seeking

# Where each side's <video> is, against where the one clock says it should be.
POSITIONS_JS = """() => {
  const player = window.__replay.player;
  const t = player.time;
  const out = {time: t, playing: player.playing, sides: {}};
  for (const side of player.sides) {
    const current = side.current;
    out.sides[side.name] = {
      currentTime: side.video.currentTime, readyState: side.video.readyState,
      paused: side.video.paused,
      expected: current ? Math.max(0, t - current.offset_s) : null,
      segment: current ? current.id : null};
  }
  return out;
}"""


async def positions(page: Page) -> dict:
    result: dict = await page.evaluate(POSITIONS_JS)
    return result


async def both_at(page: Page, seconds: float, within_ms: int = 8000) -> dict:
    """Wait until the clock is near `seconds` and both videos show the clock's moment."""
    try:
        await _both_at(page, seconds, within_ms)
    except PlaywrightTimeout:
        raise AssertionError(f"not both at {seconds}: {await positions(page)}") from None
    return await positions(page)


async def _both_at(page: Page, seconds: float, within_ms: int) -> None:
    await page.wait_for_function("""([target, tolerance]) => {
      const player = window.__replay.player;
      if (Math.abs(player.time - target) > 1.0) return false;
      return player.sides.every((side) => side.current &&
        side.video.readyState >= 2 && !side.video.seeking &&
        Math.abs(side.video.currentTime - Math.max(0, player.time - side.current.offset_s))
          < tolerance);
    }""", arg=[seconds, TOLERANCE_S], timeout=within_ms)


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_auditor_watches_both_sides_in_sync_seeks_and_jumps_from_the_timeline(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=ARGS)
        try:
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1366, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            base = str(api.client.make_url("/static/replay.html"))

            await page.goto(f"{base}#consult={consult_id}")
            await page.get_by_text("请先输入审计员密钥。").wait_for()
            await page.fill("#key", AUDITOR_KEY)
            await page.get_by_role("button", name="使用此密钥").click()
            await page.locator("#consult").wait_for(state="visible")
            await page.locator("#summary").get_by_text("转线下就诊").wait_for()
            assert await page.evaluate("sessionStorage.getItem('shouzhen.auditorKey')") == \
                AUDITOR_KEY
            assert AUDITOR_KEY not in page.url

            # Both sides load at time 0, then play together from the one clock.
            await both_at(page, 0.0)
            await page.get_by_role("button", name="播放").click()
            await page.wait_for_function(
                "() => window.__replay.player.time > 1.5 && window.__replay.player.sides"
                ".every((s) => !s.video.paused && s.video.currentTime > 1.0)", timeout=10_000)
            playing = await positions(page)
            for side in playing["sides"].values():
                assert abs(side["currentTime"] - side["expected"]) < TOLERANCE_S, playing
            await page.wait_for_timeout(600)
            later = await positions(page)
            assert all(later["sides"][n]["currentTime"] > playing["sides"][n]["currentTime"]
                       for n in ("physician", "guardian")), (playing, later)

            # The one seek bar moves both.
            await page.get_by_role("button", name="暂停").click()
            await page.locator("#seek").fill("3.2")
            seeked = await both_at(page, 3.2)
            assert abs(seeked["time"] - 3.2) < 0.05 and not seeked["playing"]
            for side in seeked["sides"].values():
                assert abs(side["currentTime"] - side["expected"]) < TOLERANCE_S, seeked
            await page.locator("#seek").fill("0.8")
            back = await both_at(page, 0.8)
            assert abs(back["time"] - 0.8) < 0.05

            # A timeline event seeks both: the guardian's chat message.
            view = await page.evaluate("window.__replay.view")
            chat = [i for i in view["timeline"] if i["action"] == "chat.message"][1]
            event = page.locator(f"#timeline button[data-seq='{chat['seq']}']")
            await event.get_by_text("好的，这样可以吗？").wait_for()
            await event.click()
            jumped = await both_at(page, chat["offset_s"])
            assert abs(jumped["time"] - chat["offset_s"]) < 0.05
            for side in jumped["sides"].values():
                assert abs(side["currentTime"] - side["expected"]) < TOLERANCE_S, jumped

            # Intake, photos and the referral are there; Verify says the archive is intact.
            await page.get_by_text("父亲身高").wait_for()
            await page.locator("#photos img[src^='blob:']").first.wait_for()
            await page.get_by_role("button", name="核验完整性").click()
            await page.get_by_text("核验通过：封存后没有任何改动。").wait_for()
            async with page.expect_download() as download_info:
                await page.get_by_role("button", name="导出档案").click()
            download = await download_info.value
            assert download.suggested_filename == f"shouzhen-consult-{consult_id}.tar"
            with tarfile.open(await download.path()) as tar:
                names = {m.name.split("/", 1)[1] for m in tar.getmembers()}
            assert {"archive-manifest.json", "SHA256SUMS", "README.txt"} <= names
            SCREENSHOTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "replay-consult.png"), full_page=True)

            await page.get_by_role("button", name="English").click()
            await page.get_by_text("Verified: nothing was altered since sealing.").wait_for()
            await page.get_by_role("button", name="Play").wait_for()

            # Back to the list, filtered the way an auditor looks for referrals.
            await page.get_by_role("button", name="← Back to the list").click()
            await page.select_option("select[name=has_referral]", "true")
            await page.get_by_role("button", name="Search").click()
            row = page.locator(f"tr[data-consult='{consult_id}']")
            await row.get_by_text("Referred offline").wait_for()
            await page.get_by_text("1–1 of 1").wait_for()
            await page.screenshot(path=str(SCREENSHOTS / "replay-list.png"))
            assert errors == [], errors
        finally:
            await browser.close()

    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.consult_id == consult_id, AuditEntryRow.seq > 0).order_by(
            AuditEntryRow.seq))).all()
    played = [json.loads(r.details) for r in rows if r.action == "recording.played"]
    segment_ids = {s["id"] for p in view["recordings"]["participants"] for s in p["segments"]}
    # Chromium fetched each recording in several ranges; each segment played is audited once.
    audited = [p["segment_id"] for p in played]
    assert len(audited) == len(set(audited)) and set(audited) <= segment_ids
    assert {p["participant"] for p in played} == {"physician", "guardian"}
    assert {p["via"] for p in played} == {"grant"}
    actions = [r.action for r in rows]
    assert actions.count("recording.playback_granted") == 1
    assert "record.viewed" in actions and "archive.verified" in actions
    exported = [json.loads(r.details) for r in rows if r.action == "archive.exported"]
    assert [e["via"] for e in exported] == ["grant"]

"""A physician and a guardian meet through the real page, the real server and real WebRTC:
the guardian accepts the recording notice, fills in the dermatology intake, waits, is admitted;
both see and hear each other, chat, and the guardian's phone survives a dropped connection."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.browser

# Counts the physician's page has seen of the guardian's presence (reconnecting, back, …).
WATCH_PRESENCE_JS = """() => {
  window.__seenPresence = [];
  const node = document.getElementById("peer-status");
  new MutationObserver(() => {
    const status = node.dataset.status;
    if (status && window.__seenPresence.at(-1) !== status) window.__seenPresence.push(status);
  }).observe(node, {attributes: true, childList: true, subtree: true});
}"""


async def test_physician_and_guardian_see_hear_and_chat(physician, guardian, consult, meet):
    await meet(physician, guardian, consult, screenshots=True)

    # Video keeps coming: frames decoded go up on both sides, audio packets too.
    first = {"p": await physician.stats(), "g": await guardian.stats()}
    await asyncio.sleep(2)
    later = {"p": await physician.stats(), "g": await guardian.stats()}
    for side in ("p", "g"):
        assert later[side]["video"]["frames"] > first[side]["video"]["frames"] + 10, later
        assert later[side]["audio"]["packets"] > first[side]["audio"]["packets"] + 20, later
    # Both remote videos play in the page (not only in the stats).
    for party in (physician, guardian):
        assert await party.page.evaluate(
            "document.getElementById('remote-video').videoWidth > 0"), party.name
    assert await guardian.page.is_visible("#recording-indicator")
    assert "录制中" in await guardian.page.text_content("#recording-indicator")

    # Chat one message each way; each side sees both, sent (not pending), in the same order.
    await guardian.page.click("#btn-chat")
    from_guardian, from_physician = "医生您好，孩子脸上的疹子很痒", "好的，请把孩子抱近镜头"
    await guardian.page.fill("#chat-input", from_guardian)
    await guardian.page.press("#chat-input", "Enter")
    await physician.page.wait_for_function(
        "document.querySelectorAll('#chat-list .chat-message').length === 1", timeout=10_000)
    await physician.page.fill("#chat-input", from_physician)
    await physician.page.click("#chat-form button[type=submit]")
    for party in (physician, guardian):
        await party.page.wait_for_function(
            "document.querySelectorAll('#chat-list .chat-message[data-status=sent]').length === 2",
            timeout=10_000)
        texts = await party.page.locator("#chat-list .chat-text").all_text_contents()
        assert texts == [from_guardian, from_physician], (party.name, texts)
    await guardian.screenshot("guardian-chat")
    await guardian.page.click("#chat-close")

    # Quality was measured from getStats() and shown.
    await guardian.page.wait_for_function(
        "document.getElementById('quality-indicator').dataset.level", timeout=10_000)
    await guardian.screenshot("guardian-in-call")
    await physician.screenshot("physician-in-call")

    # Mute and camera off act on the tracks being sent (no renegotiation).
    await guardian.page.click("#btn-mic")
    assert await guardian.page.text_content("#btn-mic") == "麦克风已关"
    assert await guardian.page.evaluate(
        "window.__shouzhen.pc.getSenders().find(s => s.track && s.track.kind === 'audio')"
        ".track.enabled") is False
    await guardian.page.click("#btn-mic")
    assert await guardian.page.text_content("#btn-mic") == "麦克风已开"

    # The physician attests the guardian's presence, then ends with a diagnosis; the
    # guardian's phone shows the outcome.
    await physician.page.click("#confirm-guardian")
    await physician.page.wait_for_function(
        "document.getElementById('guardian-confirmed-text').textContent.includes('已确认')")
    await physician.page.click("#end-consult")
    dialog = physician.page.locator("#end-dialog")
    await dialog.get_by_text("完成问诊").click()
    await dialog.get_by_label("诊断").fill("婴儿湿疹")
    await dialog.get_by_label("医嘱").fill("保湿，避免搔抓，一周后复诊")
    await physician.page.click("#end-ok")
    await physician.screen("ended")
    await guardian.screen("ended")
    outcome = await guardian.page.text_content("#ended-referral")
    assert "婴儿湿疹" in outcome and "保湿" in outcome, outcome
    assert await guardian.page.evaluate("window.__shouzhen.pc.connectionState") == "closed"
    await guardian.screenshot("guardian-ended")
    assert guardian.errors == [] and physician.errors == [], (guardian.errors, physician.errors)


async def test_guardian_comes_back_after_the_connection_drops(physician, guardian, consult, meet,
                                                             poll):
    await meet(physician, guardian, consult)
    await physician.page.evaluate(WATCH_PRESENCE_JS)
    before = await physician.stats()

    # The phone's socket drops (as when it changes from Wi-Fi to 4G).
    await guardian.page.evaluate("window.__shouzhen.socket.io.engine.close()")
    await poll(lambda: physician.page.evaluate("window.__seenPresence"),
                   lambda seen: "reconnecting" in seen and "back" in seen, 20,
                   "physician is told the guardian is reconnecting, then back")
    assert await guardian.page.evaluate("window.__shouzhen.socket.connected")
    assert await guardian.page.evaluate("window.__shouzhen.state") == "call"

    # The guardian's picture comes back for the physician and keeps coming.
    async def physician_frames():
        stats = await physician.stats()
        return stats and stats["video"] and stats["video"]["frames"]

    resumed = await poll(physician_frames, lambda frames: frames > before["video"]["frames"],
                             20, "physician decodes the guardian's video again")
    await asyncio.sleep(2)
    assert await physician_frames() > resumed + 10
    await poll(guardian.stats, lambda s: bool(s["video"] and s["video"]["frames"] > 0
                                             and s["audio"] and s["audio"]["packets"] > 0),
               15, "guardian receives the physician again")

    # Leaving on purpose is different: no grace period, and the physician is told plainly.
    await guardian.page.click("#btn-leave")
    await guardian.page.click("#confirm-ok")
    await guardian.screen("left")
    await physician.page.wait_for_function(
        "document.getElementById('peer-status').textContent.includes('监护人已离开')",
        timeout=10_000)
    assert guardian.errors == [] and physician.errors == [], (guardian.errors, physician.errors)

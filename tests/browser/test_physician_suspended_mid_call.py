"""A physician suspended mid-call: the family's phone shows the call stopped, that the doctor
can no longer continue (not because of the family) and that the hospital will book again;
the physician's page says they may not hold the consult, in the whitelist's words."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


async def test_the_family_reads_why_the_call_stopped_when_the_physician_is_suspended(
        server, physician, guardian, meet):
    consult = server.book_consult("dermatology")
    await meet(physician, guardian, consult)
    physician_id = server.api("GET", f"/api/consults/{consult['id']}")["physician"]["id"]
    server.api("POST", f"/api/physicians/{physician_id}/whitelist-status",
               {"status": "suspended", "reason": "资质复核"})

    await guardian.screen("ended", timeout_s=10)
    assert await guardian.page.text_content("#ended-outcome") == "问诊已中止。医院会与您联系。"
    detail = await guardian.page.text_content("#ended-referral")
    assert "接诊医生目前无法继续本次问诊，这与您和孩子无关。" in detail
    assert "医院会联系您重新预约。" in detail
    await guardian.screenshot("guardian-physician-suspended")
    # The physician is told why, with the whitelist's words, not merely that the call closed.
    await physician.screen("dead", timeout_s=10)
    assert await physician.page.text_content("#dead-title") == "医生暂时无法接诊"
    assert "白名单资格已暂停" in await physician.page.text_content("#dead-detail")
    await physician.screenshot("physician-suspended")

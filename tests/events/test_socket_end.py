"""The demo's promise: the physician ends with a referral over Socket.IO, the guardian's
screen gets it at once with its reference number, and the hospital's webhook receiver —
down at that moment — gets the events once it is back."""

from __future__ import annotations

from server.kernel import audit_log
from server.kernel.models import OutcomeRow

from ..conftest import Peer
from .conftest import REFERRAL, assert_in_consult_order, book, make_physician, outbox_rows


async def test_a_referral_ended_over_socketio_reaches_the_guardian_now_and_the_receiver_later(
        api, receiver):
    await receiver.go_down()
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    await api.client.post(f"/api/consults/{booked['id']}/recording-notice",
                          headers=api.bearer(booked["guardian_token"]))
    url = str(api.client.make_url("/"))
    doctor, guardian = Peer(url, booked["physician_token"]), Peer(url, booked["guardian_token"])
    try:
        for peer in (doctor, guardian):
            await peer.connect()
            assert (await peer.call("join"))["ok"]
        assert (await doctor.call("admit"))["ok"]
        assert (await doctor.call("confirm_guardian_present"))["ok"]
        ack = await doctor.call("end", {"outcome": "referred", "referral": REFERRAL})
        assert ack["ok"], ack
        (ended,) = await guardian.wait_for("ended")
    finally:
        await doctor.close()
        await guardian.close()
    reference = ended["outcome_detail"]["referral"]["reference_number"]
    assert reference == ack["outcome_detail"]["referral_reference"]

    await receiver.come_up()
    received = await receiver.wait_for(2)
    outbox = await outbox_rows(api.services.db)
    assert [e["type"] for e in received] == ["consult.ended", "referral.created"]
    assert_in_consult_order(received, outbox)
    assert received[1]["data"]["reference_number"] == reference
    async with api.services.db.reading() as session:
        assert (await session.get_one(OutcomeRow, booked["id"])).referral_reference == reference
        assert (await audit_log.verify_chain(session)).ok

import sqlalchemy as sa

from server.kernel.models import AuditEntryRow


async def verify(api):
    response = await api.client.get("/api/audit/verify", headers=api.auditor)
    assert response.status == 200
    return await response.json()


async def test_a_live_chain_verifies_and_the_check_is_itself_audited(api, booked_consult):
    await booked_consult()
    first = await verify(api)
    assert first["ok"] and first["entries_checked"] == 3  # created, listed, booked
    second = await verify(api)
    assert second["entries_checked"] == 4  # the first verification is now in the chain


async def tamper(api, statement, **params):
    async with api.services.db.engine.begin() as connection:
        await connection.execute(sa.text(statement), params)


async def test_editing_an_entry_in_the_database_is_detected(api, booked_consult):
    await booked_consult()
    await tamper(api, "UPDATE audit_log SET details = :d WHERE seq = 2", d='{"forged":true}')
    result = await verify(api)
    assert not result["ok"] and result["first_broken_seq"] == 2


async def test_deleting_an_entry_in_the_database_is_detected(api, booked_consult):
    await booked_consult()
    await tamper(api, "DELETE FROM audit_log WHERE seq = 2")
    result = await verify(api)
    assert not result["ok"] and result["first_broken_seq"] == 2


async def test_deleting_the_newest_entry_is_detected(api, booked_consult):
    await booked_consult()
    await tamper(api, "DELETE FROM audit_log WHERE seq = 3")
    result = await verify(api)
    assert not result["ok"] and "cut off" in result["problem"]


async def test_swapping_two_entries_is_detected(api, booked_consult):
    await booked_consult()
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).order_by(AuditEntryRow.seq))).all()
    a, b = rows[0], rows[1]
    await tamper(api, "UPDATE audit_log SET action = :x, details = :dx WHERE seq = 1",
                 x=b.action, dx=b.details)
    await tamper(api, "UPDATE audit_log SET action = :x, details = :dx WHERE seq = 2",
                 x=a.action, dx=a.details)
    assert not (await verify(api))["ok"]


async def test_guardians_cannot_verify_the_chain(api, booked_consult):
    booked = await booked_consult()
    response = await api.client.get("/api/audit/verify",
                                    headers=api.bearer(booked["guardian_token"]))
    assert response.status == 403

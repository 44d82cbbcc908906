"""Recordings served for playback: HTTP Range done exactly (206 with the very bytes, 416
outside the file, 200 for the whole), the right media type, and the audit log told once per
auditor, segment and playback session — not once per range a player asks for."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.api.auth import REFUSALS
from server.api.replay_api import ByteRange, RangeNotSatisfiable, parse_range
from server.kernel.models import AuditEntryRow, RecordingSegmentRow

from .conftest import AUDITOR


async def segments_of(api, consult_id) -> list[RecordingSegmentRow]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(RecordingSegmentRow).where(
            RecordingSegmentRow.consult_id == consult_id).order_by(
            RecordingSegmentRow.id))).all())


async def played(api) -> list[dict]:
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "recording.played").order_by(AuditEntryRow.seq))).all()
    import json
    return [{"actor": r.actor_id, **json.loads(r.details)} for r in rows]


def test_range_headers_are_read_as_rfc_9110_says():
    assert parse_range(None, 1000) is None
    assert parse_range("bytes=0-99", 1000) == ByteRange(0, 99)
    assert parse_range("bytes=990-", 1000) == ByteRange(990, 999)
    assert parse_range("bytes=990-5000", 1000) == ByteRange(990, 999)  # clamped to the end
    assert parse_range("bytes=-10", 1000) == ByteRange(990, 999)  # the last ten bytes
    assert parse_range("bytes=-5000", 1000) == ByteRange(0, 999)
    assert parse_range("bytes=5-2", 1000) is None  # invalid: ignored, whole file
    assert parse_range("items=0-5", 1000) is None  # another unit: ignored
    assert parse_range("bytes=0-1,5-6", 1000) is None  # several ranges: served whole
    for unsatisfiable in ("bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=5000-6000"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(unsatisfiable, 1000)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)


async def test_a_range_gets_206_with_exactly_those_bytes_and_the_whole_file_200(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    segment = (await segments_of(api, consult_id))[0]
    stored = api.services.storage.read(segment.storage_key)
    url = f"/api/replay/consults/{consult_id}/recordings/{segment.id}"

    whole = await api.client.get(url, headers=AUDITOR)
    assert whole.status == 200
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "video/webm"
    assert int(whole.headers["Content-Length"]) == len(stored) == segment.size_bytes
    assert await whole.read() == stored
    assert whole.headers["ETag"] == f'"{segment.sha256}"'

    part = await api.client.get(url, headers={**AUDITOR, "Range": "bytes=100-4195"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100-4195/{len(stored)}"
    assert int(part.headers["Content-Length"]) == 4096
    assert await part.read() == stored[100:4196]

    tail = await api.client.get(url, headers={**AUDITOR, "Range": "bytes=-500"})
    assert tail.status == 206 and await tail.read() == stored[-500:]
    rest = await api.client.get(url, headers={**AUDITOR, "Range": f"bytes={len(stored) - 7}-"})
    assert rest.status == 206 and await rest.read() == stored[-7:]

    for outside in (f"bytes={len(stored)}-", f"bytes={len(stored) + 10}-{len(stored) + 20}",
                    "bytes=-0"):
        refused = await api.client.get(url, headers={**AUDITOR, "Range": outside})
        assert refused.status == 416, outside
        assert refused.headers["Content-Range"] == f"bytes */{len(stored)}"
        assert (await refused.json())["code"] == "range_not_satisfiable"

    changed = await api.client.get(url, headers={**AUDITOR, "Range": "bytes=0-9",
                                                 "If-Range": '"another-version"'})
    assert changed.status == 200 and await changed.read() == stored


async def test_a_player_under_one_grant_is_audited_once_per_segment_however_many_ranges(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    segments = await segments_of(api, consult_id)
    response = await api.client.post(f"/api/replay/consults/{consult_id}/playback",
                                     headers=AUDITOR)
    assert response.status == 201, await response.text()
    grant = await response.json()
    assert set(grant["recordings"]) == {str(s.id) for s in segments}
    first, second = segments[0], segments[1]
    stored = api.services.storage.read(first.storage_key)

    # What a <video> does: no Authorization header, the grant in the URL, many ranges.
    url = grant["recordings"][str(first.id)]
    for byte_range in ("bytes=0-", "bytes=0-65535", "bytes=50000-", "bytes=0-", "bytes=-100"):
        part = await api.client.get(url, headers={"Range": byte_range})
        assert part.status == 206
        start = int(part.headers["Content-Range"].split()[1].split("-")[0])
        body = await part.read()
        assert body == stored[start:start + len(body)]
    await api.client.get(grant["recordings"][str(second.id)], headers={"Range": "bytes=0-"})
    await api.client.get(grant["recordings"][str(second.id)], headers={"Range": "bytes=9-99"})

    audited = await played(api)
    assert [(a["segment_id"], a["via"], a["actor"]) for a in audited] == [
        (first.id, "grant", "audrey"), (second.id, "grant", "audrey")]
    assert all(a["grant_id"] == grant["grant_id"] for a in audited)

    # A new session (a new grant) is a new playback: audited again, once.
    again = await (await api.client.post(f"/api/replay/consults/{consult_id}/playback",
                                         headers=AUDITOR)).json()
    for _ in range(3):
        await api.client.get(again["recordings"][str(first.id)], headers={"Range": "bytes=0-"})
    assert len(await played(api)) == 3
    # With the API key itself there is no session: every request from byte 0 is audited,
    # a continuation is not.
    key_url = f"/api/replay/consults/{consult_id}/recordings/{first.id}"
    await api.client.get(key_url, headers={**AUDITOR, "Range": "bytes=0-99"})
    await api.client.get(key_url, headers={**AUDITOR, "Range": "bytes=100-"})
    assert [a["via"] for a in await played(api)] == ["grant", "grant", "grant", "api_key"]
    async with api.services.db.reading() as session:
        granted = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "recording.playback_granted"))).all()
    assert len(granted) == 2 and all(g.actor_id == "audrey" for g in granted)


async def test_a_grant_opens_only_its_own_consult_and_only_while_it_is_intact(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    segment = (await segments_of(api, consult_id))[0]
    grant = await (await api.client.post(f"/api/replay/consults/{consult_id}/playback",
                                         headers=AUDITOR)).json()
    url = f"/api/replay/consults/{consult_id}/recordings/{segment.id}"
    token = grant["grant"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert (await api.client.get(f"{url}?grant={tampered}")).status == 401
    other = "00000000-0000-4000-8000-000000000000"
    elsewhere = await api.client.get(
        f"/api/replay/consults/{other}/recordings/{segment.id}?grant={token}")
    assert elsewhere.status == 403
    # A join token is not a grant.
    join = await api.client.get(f"{url}?grant={sealed_consult.physician_token}")
    assert join.status == 403
    # The two 403s are one kind of refusal from one address: the second is counted, and
    # closing the window writes its count.
    await api.client.app[REFUSALS].flush()
    async with api.services.db.reading() as session:
        refused = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused"))).all()
    assert len(refused) == 3
    assert all("grant=" not in r.details for r in refused), "grants never enter the log"
    assert await played(api) == []

"""The auditor's side of an archived consult: list, replay, verify, export — and the admin's
legal holds and retention purge.

Who may do what. Replay, verification and export are for the **auditor** role only; an
admin key gets 403 there (separation of duties: the role that can place holds and purge is
not the role that reviews recordings, and an auditor can change nothing). Physician and
guardian links get 403. Every refusal is an `access.refused` entry (server/api/auth.py).

Every view is audited. A video player fetches a recording in many HTTP Range requests —
one per seek, and Chromium re-requests as it buffers — so auditing each would bury the log
in noise. Instead the page asks once for a **playback grant** (`POST …/playback`, audited as
`recording.playback_granted`): a signed token, two hours long, naming the consult, the
auditor and a random grant id, which the `<video>` elements carry in their URL (a media
element cannot send an Authorization header). Each (grant, segment) is audited once, as
`recording.played`, at its first request; further ranges of that segment under that grant
are not. A client using its API key directly (no grant, so no session) is audited on every
request that starts at byte 0 — the start of a playback or a download. The set of audited
(grant, segment) pairs is kept per node: behind a load balancer a grant may be audited once
per node it reaches, still bounded, never per range.

Artefact names never come from the URL: a recording is addressed by the numeric id of its
database row, its storage key comes from that row and must lie under the consult's own
prefix; export and verification read paths only from the sealed manifest, each resolved
without following symlinks (recorder/archive_manifest.resolve_artefact).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web

from recorder.archive_export import write_export
from recorder.archive_manifest import ManifestProblem
from recorder.archive_seal import read_sealed_manifest
from recorder.purge_evidence import PurgeRecord, purge_records, retention_overview
from recorder.retention_purge import ConsultFacts
from recorder.storage import InvalidKey, LocalDirectoryStorage, validate_key
from server.api.problems import problem_response
from server.api.replay_grants import ReplayGrant, issue_grant
from server.api.request_services import Services, services_of
from server.api.responses import json_response
from server.api.routes import PAGING, ApiRoutes, Caller, QueryParam, Scheme, paging
from server.clinical.consult_lifecycle import ConsultState, Outcome
from server.clinical.consults import consult_view, load_record
from server.clinical.specialties import SPECIALTY_NAMES, Specialty
from server.kernel import audit_log
from server.kernel.audit_log import Actor, AuditEntry
from server.kernel.errors import (
    ConsultNotFound,
    MalformedRequest,
    NotFound,
    ShouzhenError,
)
from server.kernel.models import (
    ArchiveRow,
    ChildRow,
    ConsultRow,
    OutcomeRow,
    PhotoRow,
    PhysicianRow,
    RecordingSegmentRow,
)
from server.kernel.validation import StrictModel, calendar_day, parse_json
from server.photos.capture import photo_view
from server.records.consult_export import (
    ConsultNotSealed,
    plan_export,
    stream_blocking_writer,
    verify_consult_archive,
)
from server.records.legal_holds import LegalHoldIn, held_consults, list_holds
from server.records.retention_purge import last_visits, policy_from_settings, run_purge

AUDITOR: tuple[Scheme, ...] = ("auditor",)
ADMIN: tuple[Scheme, ...] = ("admin",)
# The recordings and the export also take a playback grant in `?grant=`: media elements and
# downloads cannot send headers.
AUDITOR_OR_GRANT: tuple[Scheme, ...] = ("auditor", "replay_grant")
CONTENT_TYPES = {"webm": "video/webm", "matroska": "video/x-matroska", "mkv": "video/x-matroska"}
STREAM_CHUNK = 256 * 1024
CONSULT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# -- playback grants -------------------------------------------------------------------------


@dataclass
class PlaybackLedger:
    """(grant, segment) pairs already audited as played, until their grant expires."""

    seen: dict[tuple[str, int], datetime] = field(default_factory=dict)

    def first_play(self, grant: ReplayGrant, segment_id: int, now: datetime) -> bool:
        # No await between the check and the insert: concurrent ranges cannot both win.
        for key in [k for k, until in self.seen.items() if until <= now]:
            del self.seen[key]
        key = (grant.grant_id, segment_id)
        if key in self.seen:
            return False
        self.seen[key] = grant.expires_at
        return True

    def forget(self, grant: ReplayGrant, segment_id: int) -> None:
        self.seen.pop((grant.grant_id, segment_id), None)


PLAYBACK_LEDGER = web.AppKey("playback_ledger", PlaybackLedger)


class ReplayRoutes(ApiRoutes):
    """The routes, plus the per-application playback ledger they need."""

    def add_to(self, app: web.Application) -> None:
        super().add_to(app)
        app[PLAYBACK_LEDGER] = PlaybackLedger()


routes = ReplayRoutes()


# -- HTTP Range (RFC 9110 §14) ---------------------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(ShouzhenError):
    status = 416
    code = "range_not_satisfiable"
    title = "Range not satisfiable"


# ASCII digits, at most 18 of them (\d also takes '²' and '١', which int() refuses, and
# int() refuses more than 4,300 digits): a longer position is past any recording anyway.
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")
_SEGMENT_ID = re.compile(r"^[0-9]{1,18}$")  # a recording's or a legal hold's row id


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Pure: the one byte range asked for, None for the whole object, RangeNotSatisfiable
    when no byte of it exists. A header that is not a single valid bytes range is ignored,
    as RFC 9110 allows (the whole object is sent); several ranges are served whole too —
    media players never ask for them."""
    if header is None:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"bytes=-{suffix} selects nothing of a {size}-byte "
                                      "recording")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid, so ignored
    if start >= size:
        raise RangeNotSatisfiable(f"the recording has {size} bytes; the range starts at byte "
                                  f"{start}")
    return ByteRange(start, min(end, size - 1))


# -- the consult in the URL ------------------------------------------------------------------


def _consult_id(request: web.Request) -> str | None:
    """The consult id of the URL if it is well-formed, else None. Consult ids are UUIDs;
    anything else (`../`, encoded or not) is refused before it reaches a query or a path."""
    value = request.match_info.get("consult_id", "")
    return value if CONSULT_ID.match(value) else None


def _consult_of(request: web.Request) -> str:
    consult_id = _consult_id(request)
    if consult_id is None:
        raise ConsultNotFound("no consult has this id")
    return consult_id


async def _audit(s: Services, actor: Actor, action: str, consult_id: str | None,
                 details: dict[str, Any]) -> None:
    async with s.db.transaction() as session:
        await audit_log.append(session, actor, action, consult_id=consult_id, details=details)


# -- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    day_from: datetime | None = None  # inclusive, start of the hospital's calendar day
    day_until: datetime | None = None  # exclusive
    physician_id: str | None = None
    specialty: Specialty | None = None
    outcome: Outcome | None = None
    has_referral: bool | None = None
    state: ConsultState | None = None
    limit: int = 50
    offset: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.__dict__.items() if v is not None}


def parse_filters(query: Any, time_zone: ZoneInfo) -> ListFilters:
    """Pure: the list's query string, every bad value refused with its name."""
    def day(name: str, shift: int) -> datetime | None:
        if not query.get(name):
            return None
        value = calendar_day(query[name], name)
        return datetime.combine(value + timedelta(days=shift), time(0), tzinfo=time_zone)

    def choice(name: str, kind: Any) -> Any:
        if not query.get(name):
            return None
        try:
            return kind(query[name])
        except ValueError:
            allowed = ", ".join(item.value for item in kind)
            raise MalformedRequest(f"{name} must be one of {allowed}") from None

    has_referral = query.get("has_referral") or None
    if has_referral not in (None, "true", "false"):
        raise MalformedRequest("has_referral must be true or false")
    limit, offset = paging(query)
    physician = query.get("physician") or None
    if physician is not None and len(physician) > 36:
        raise MalformedRequest("physician must be a physician id")
    return ListFilters(day("from", 0), day("to", 1), physician, choice("specialty", Specialty),
                       choice("outcome", Outcome),
                       None if has_referral is None else has_referral == "true",
                       choice("state", ConsultState), limit, offset)


def _list_query(filters: ListFilters) -> sa.Select:
    query = (sa.select(ConsultRow, PhysicianRow, ChildRow, OutcomeRow, ArchiveRow)
             .join(PhysicianRow, PhysicianRow.id == ConsultRow.physician_id)
             .join(ChildRow, ChildRow.id == ConsultRow.child_id)
             .outerjoin(OutcomeRow, OutcomeRow.consult_id == ConsultRow.id)
             .outerjoin(ArchiveRow, ArchiveRow.consult_id == ConsultRow.id))
    if filters.day_from is not None:
        query = query.where(ConsultRow.scheduled_start >= filters.day_from)
    if filters.day_until is not None:
        query = query.where(ConsultRow.scheduled_start < filters.day_until)
    if filters.physician_id is not None:
        query = query.where(ConsultRow.physician_id == filters.physician_id)
    if filters.specialty is not None:
        query = query.where(ConsultRow.specialty == filters.specialty.value)
    if filters.outcome is not None:
        query = query.where(ConsultRow.outcome == filters.outcome.value)
    if filters.has_referral is True:
        query = query.where(OutcomeRow.referral_reference.is_not(None))
    elif filters.has_referral is False:
        query = query.where(OutcomeRow.referral_reference.is_(None))
    if filters.state is not None:
        query = query.where(ConsultRow.state == filters.state.value)
    return query


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _specialty(code: str) -> dict[str, str]:
    zh, en = SPECIALTY_NAMES[Specialty(code)]
    return {"code": code, "zh": zh, "en": en}


@routes.route("GET", "/api/replay/consults", summary="Consults for audit, with filters (audited)",
              tag="replay", auth=AUDITOR,
              query=(QueryParam("from", "first day (YYYY-MM-DD, hospital time) of the "
                                "scheduled start"),
                     QueryParam("to", "last day, included"),
                     QueryParam("physician", "a physician id"),
                     QueryParam("specialty", "growth_development | nutrition | dermatology"),
                     QueryParam("outcome", "completed | referred | aborted"),
                     QueryParam("has_referral", "true | false"),
                     QueryParam("state", "booked | waiting | in_call | ended | archived | …"),
                     *PAGING))
async def list_replay_consults(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    filters = parse_filters(request.query, s.clock.timezone)
    query = _list_query(filters)
    async with s.db.reading() as session:
        total = (await session.execute(sa.select(sa.func.count()).select_from(
            query.with_only_columns(ConsultRow.id).subquery()))).scalar_one()
        rows = (await session.execute(query.order_by(
            ConsultRow.scheduled_start.desc(), ConsultRow.id).limit(filters.limit)
            .offset(filters.offset))).all()
        held = await held_consults(session, [row[0].id for row in rows])
    consults = [{
        "id": c.id, "specialty": _specialty(c.specialty), "state": c.state,
        "outcome": c.outcome, "has_referral": bool(o and o.referral_reference),
        "referral_reference": o.referral_reference if o else None,
        "physician": {"id": p.id, "name": p.name}, "child": {
            "id": child.id, "name": child.name, "patient_id": child.hospital_patient_id},
        "scheduled_start": c.scheduled_start.isoformat(), "admitted_at": _iso(c.admitted_at),
        "ended_at": _iso(c.ended_at), "sealed": a is not None, "legal_hold": c.id in held,
    } for c, p, child, o, a in rows]
    await _audit(s, caller.actor, "replay.listed", None,
                 {"filters": filters.to_dict(), "returned": len(consults), "total": total})
    return json_response({"consults": consults, "total": total, "limit": filters.limit,
                          "offset": filters.offset})


# -- one consult -----------------------------------------------------------------------------

_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("consult.booked", "booking"), ("consult.links_issued", "booking"),
    ("consult.recording_notice_accepted", "notice"), ("intake.", "intake"),
    ("consult.guardian_joined", "join"), ("participant.", "join"),
    ("consult.admitted", "admit"), ("consult.guardian_confirmed", "guardian_confirmation"),
    ("chat.", "chat"), ("capture.", "capture"), ("consult.ended", "outcome"),
    ("consult.cancelled", "outcome"), ("consult.no_show", "outcome"),
    ("recording.", "recording"), ("media.", "media"), ("archive.sealed", "seal"),
    ("access.refused", "refusal"), ("signal.refused", "refusal"),
)


def timeline_category(entry: AuditEntry) -> str:
    """Pure: what kind of moment an audit entry marks, for the timeline."""
    if entry.action == "consult.ended" and entry.details_dict().get("referral_reference"):
        return "referral"
    for prefix, category in _CATEGORIES:
        if entry.action == prefix or (prefix.endswith(".") and entry.action.startswith(prefix)):
            return category
    return "other"


def timeline_item(entry: AuditEntry, origin: datetime | None) -> dict[str, Any]:
    at = datetime.fromisoformat(entry.at)
    return {"seq": entry.seq, "at": entry.at, "action": entry.action,
            "category": timeline_category(entry),
            "offset_s": None if origin is None else round((at - origin).total_seconds(), 3),
            "actor_role": entry.actor_role, "actor_id": entry.actor_id,
            "details": entry.details_dict(), "hash": entry.hash}


def recording_origin(segments: list[RecordingSegmentRow]) -> datetime | None:
    """Time 0 of the replay: the earliest moment either side's recording holds."""
    return min((segment.started_at for segment in segments), default=None)


def segment_state(segment: RecordingSegmentRow, stored: bool,
                  purges: dict[str, PurgeRecord], prefix: str) -> str:
    if stored:
        return "available"
    return "purged" if segment.storage_key.removeprefix(prefix + "/") in purges else "missing"


def _stored(storage: LocalDirectoryStorage, key: str) -> bool:
    try:
        return storage.exists(key)
    except InvalidKey:  # a row with an unusable key shows as missing, it does not crash
        return False


async def replay_view(s: Services, consult_id: str) -> dict[str, Any]:
    storage = s.storage
    async with s.db.reading() as session:
        record = await load_record(session, consult_id)
        segments = list((await session.scalars(sa.select(RecordingSegmentRow).where(
            RecordingSegmentRow.consult_id == consult_id).order_by(
            RecordingSegmentRow.participant, RecordingSegmentRow.segment_index))).all())
        photos = (await session.scalars(sa.select(PhotoRow).where(
            PhotoRow.consult_id == consult_id).order_by(PhotoRow.captured_at))).all()
        archive = await session.get(ArchiveRow, consult_id)
        entries = [e async for e in audit_log.iter_entries(session, consult_id=consult_id)]
        holds = await list_holds(session, consult_id)
        visits = await last_visits(session, [record.consult.child_id])
    origin = recording_origin(segments) or record.consult.admitted_at
    purges = purge_records(entries)
    prefix = f"consults/{consult_id}"
    loop = asyncio.get_running_loop()
    participants: dict[str, list[dict[str, Any]]] = {}
    end = 0.0
    for segment in segments:
        stored = await loop.run_in_executor(None, _stored, storage, segment.storage_key)
        offset = (segment.started_at - origin).total_seconds() if origin else 0.0
        end = max(end, offset + segment.duration_s)
        participants.setdefault(segment.participant, []).append({
            "id": segment.id, "index": segment.segment_index, "offset_s": round(offset, 3),
            "duration_s": segment.duration_s, "started_at": segment.started_at.isoformat(),
            "container": segment.container,
            "content_type": CONTENT_TYPES.get(segment.container, "video/webm"),
            "codecs": segment.codecs, "video_size": segment.video_size,
            "status": segment.status, "sha256": segment.sha256,
            "size_bytes": segment.size_bytes, "video_frames": segment.video_frames,
            "audio_frames": segment.audio_frames, "dropped": segment.dropped,
            "opened_because": segment.opened_because, "closed_because": segment.closed_because,
            "state": segment_state(segment, stored, purges, prefix),
            "url": f"/api/replay/consults/{consult_id}/recordings/{segment.id}"})
    order = sorted(participants, key=lambda p: (p not in ("physician", "guardian"),
                                                p != "physician", p))
    sealed_seq = next((e.seq for e in reversed(entries) if e.action == "archive.sealed"), None)
    course = [e for e in entries if sealed_seq is None or e.seq <= sealed_seq]
    after = [e for e in entries if sealed_seq is not None and e.seq > sealed_seq]
    retention: dict[str, Any] | None = None
    if archive is not None:
        try:
            listed = await read_sealed_manifest(storage, archive)
        except ManifestProblem as problem:
            retention = {"error": str(problem), "artefacts": []}
        else:
            root = f"consults/{consult_id}"
            present = {e.path for e in listed if await loop.run_in_executor(
                None, _stored, storage, f"{root}/{e.path}")}
            facts = ConsultFacts(consult_id, record.consult.child_id,
                                 record.consult.ended_at or archive.sealed_at,
                                 visits.get(record.consult.child_id),
                                 any(h["active"] for h in holds))
            policy = policy_from_settings(s.settings)
            retention = {"child_last_visit_at": _iso(facts.child_last_visit_at),
                         "policy": {"process_record_years": policy.process_record_years,
                                    "medical_record_years": policy.medical_record_years},
                         "artefacts": retention_overview(facts, listed, present, purges,
                                                         policy, s.clock.now())}
    return {
        "consult": consult_view(record, for_staff=True),
        "archive": None if archive is None else {
            "sealed_at": archive.sealed_at.isoformat(), "manifest_key": archive.manifest_key,
            "manifest_sha256": archive.manifest_sha256, "artefacts": archive.artefacts},
        "recordings": {"origin": _iso(origin), "duration_s": round(end, 3),
                       "participants": [{"participant": p, "segments": participants[p]}
                                        for p in order]},
        "timeline": [timeline_item(e, origin) for e in course],
        "after_archiving": [timeline_item(e, origin) for e in after],
        "photos": [photo_view(photo) for photo in photos],
        "legal_holds": holds,
        "retention": retention,
    }


@routes.route("GET", "/api/replay/consults/{consult_id}",
              summary="One consult for replay: timeline, recordings with offsets, intake, "
                      "photos, outcome, holds, retention (audited)",
              tag="replay", auth=AUDITOR, errors=(404,))
async def get_replay_consult(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    actor, consult_id = caller.actor, _consult_of(request)
    view = await replay_view(s, consult_id)
    await s.consults.audit_access(actor, consult_id, "replay")
    return json_response(view)


@routes.route("POST", "/api/replay/consults/{consult_id}/playback",
              summary="A two-hour playback grant for the consult's recordings and export "
                      "(audited once; each segment is then audited once per grant)",
              tag="replay", auth=AUDITOR, success=201, errors=(404,))
async def grant_playback(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    actor, consult_id = caller.actor, _consult_of(request)
    async with s.db.reading() as session:
        await load_record(session, consult_id)
        segment_ids = list((await session.scalars(sa.select(RecordingSegmentRow.id).where(
            RecordingSegmentRow.consult_id == consult_id))).all())
    token, grant = issue_grant(s.settings.secret_key, consult_id, actor.subject, s.clock.now())
    await _audit(s, actor, "recording.playback_granted", consult_id,
                 {"grant_id": grant.grant_id, "segments": sorted(segment_ids),
                  "expires_at": grant.expires_at})
    base = f"/api/replay/consults/{consult_id}"
    return json_response({
        "grant": token, "grant_id": grant.grant_id, "expires_at": grant.expires_at.isoformat(),
        "recordings": {str(i): f"{base}/recordings/{i}?grant={token}" for i in segment_ids},
        "export_url": f"{base}/export?grant={token}"}, 201)


# -- recordings with HTTP Range ----------------------------------------------------------------


def _segment_key(segment: RecordingSegmentRow, consult_id: str) -> str:
    """The storage key from the database row, refused unless it is a plain key under this
    consult's recordings (a row pointing elsewhere is corruption, not something to serve)."""
    try:
        key = validate_key(segment.storage_key)
    except InvalidKey:
        raise NotFound(f"recording {segment.id} has an unusable storage key") from None
    if not key.startswith(f"consults/{consult_id}/recordings/"):
        raise NotFound(f"recording {segment.id} is not stored under consult {consult_id}")
    return key


def _chunks(storage: LocalDirectoryStorage, key: str, byte_range: ByteRange | None
            ) -> Iterator[bytes]:
    if byte_range is None:
        return storage.iter_range(key, 0, None, STREAM_CHUNK)
    return storage.iter_range(key, byte_range.start, byte_range.length, STREAM_CHUNK)


@routes.route("GET", "/api/replay/consults/{consult_id}/recordings/{segment_id}",
              summary="One recording segment, with HTTP Range (206/416); auditor key or "
                      "`?grant=` (audited once per grant and segment)",
              tag="replay", auth=AUDITOR_OR_GRANT, errors=(404, 410, 416),
              success_media_type="video/webm")
async def get_recording(request: web.Request, caller: Caller) -> web.StreamResponse:
    s = services_of(request)
    actor, consult_id, grant = caller.actor, _consult_of(request), caller.grant
    raw_id = request.match_info["segment_id"]
    if not _SEGMENT_ID.match(raw_id):
        raise NotFound("recordings are addressed by their numeric id")
    async with s.db.reading() as session:
        segment = (await session.scalars(sa.select(RecordingSegmentRow).where(
            RecordingSegmentRow.id == int(raw_id),
            RecordingSegmentRow.consult_id == consult_id))).one_or_none()
        if segment is None:
            raise NotFound(f"consult {consult_id} has no recording {raw_id}")
    key = _segment_key(segment, consult_id)
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, s.storage.exists, key):
        evidence = [e async for e in _consult_entries(s, consult_id)]
        relative = key.removeprefix(f"consults/{consult_id}/")
        purge = purge_records(evidence).get(relative)
        if purge is not None:
            raise RecordingPurged(f"recording {segment.id} was purged under the retention rule "
                                  f"at {purge.at.isoformat()} (audit entry {purge.seq})")
        raise NotFound(f"recording {segment.id} is missing from storage: verify the consult")
    size = await loop.run_in_executor(None, s.storage.size, key)
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable as error:
        refusal = problem_response(416, error.code, error.title, error.detail, request.path)
        refusal.headers["Content-Range"] = f"bytes */{size}"
        refusal.headers["Accept-Ranges"] = "bytes"
        return refusal
    if request.headers.get("If-Range") not in (None, f'"{segment.sha256}"'):
        byte_range = None  # the client's copy is of other bytes: send the whole thing
    await _audit_playback(request, s, actor, consult_id, segment, grant, byte_range)
    response = web.StreamResponse(status=200 if byte_range is None else 206)
    response.content_type = CONTENT_TYPES.get(segment.container, "video/webm")
    response.headers.update({
        "Accept-Ranges": "bytes", "ETag": f'"{segment.sha256}"',
        "Cache-Control": "no-store, no-transform",
        "Content-Disposition": f'inline; filename="{key.rsplit("/", 1)[-1]}"'})
    if byte_range is None:
        response.content_length = size
    else:
        response.content_length = byte_range.length
        response.headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    await response.prepare(request)
    chunks = _chunks(s.storage, key, byte_range)
    while (chunk := await loop.run_in_executor(None, next, chunks, None)) is not None:
        await response.write(chunk)
    await response.write_eof()
    return response


class RecordingPurged(ShouzhenError):
    status = 410
    code = "recording_purged"
    title = "The recording was purged under the retention rule"


async def _consult_entries(s: Services, consult_id: str) -> Any:
    async with s.db.reading() as session:
        async for entry in audit_log.iter_entries(session, consult_id=consult_id):
            yield entry


async def _audit_playback(request: web.Request, s: Services, actor: Actor, consult_id: str,
                          segment: RecordingSegmentRow, grant: ReplayGrant | None,
                          byte_range: ByteRange | None) -> None:
    details = {"segment_id": segment.id, "participant": segment.participant,
               "segment_index": segment.segment_index, "storage_key": segment.storage_key,
               "sha256": segment.sha256}
    if grant is None:
        if byte_range is None or byte_range.start == 0:
            await _audit(s, actor, "recording.played", consult_id, {**details, "via": "api_key"})
        return
    ledger = request.app[PLAYBACK_LEDGER]
    if ledger.first_play(grant, segment.id, s.clock.now()):
        try:
            await _audit(s, actor, "recording.played", consult_id,
                         {**details, "via": "grant", "grant_id": grant.grant_id})
        except BaseException:
            ledger.forget(grant, segment.id)  # not audited, so not yet "played"
            raise


# -- verification and export -------------------------------------------------------------------


@routes.route("POST", "/api/replay/consults/{consult_id}/verify",
              summary="Recompute every artefact hash against the sealed manifest, check the "
                      "manifest against the audit chain's seal and the whole chain (audited)",
              tag="replay", auth=AUDITOR, errors=(404, 409))
async def verify_consult(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    actor, consult_id = caller.actor, _consult_of(request)
    try:
        result = await verify_consult_archive(s.db, s.storage, consult_id, now=s.clock.now(),
                                              time_zone=s.clock.timezone)
    except ConsultNotSealed as refused:
        await _audit(s, actor, "archive.verified", consult_id,
                     {"ok": False, "refused": refused.detail})
        raise
    await _audit(s, actor, "archive.verified", consult_id, result.audit_details())
    return json_response(result.to_dict())


@routes.route("GET", "/api/replay/consults/{consult_id}/export",
              summary="The sealed consult as one tar file: manifest, artefacts, SHA256SUMS, "
                      "README and the seal's audit entry, streamed (audited)",
              tag="replay", auth=AUDITOR_OR_GRANT, errors=(404, 409),
              success_media_type="application/x-tar")
async def export_consult(request: web.Request, caller: Caller) -> web.StreamResponse:
    s = services_of(request)
    actor, consult_id, grant = caller.actor, _consult_of(request), caller.grant
    plan = await plan_export(s.db, s.storage, consult_id)
    await _audit(s, actor, "archive.exported", consult_id, {
        "format": "tar", "manifest_sha256": plan.seal["archive"]["manifest_sha256"],
        "artefacts": len(plan.present), "absent": [e.path for e, _ in plan.absent],
        "via": "grant" if grant else "api_key",
        **({"grant_id": grant.grant_id} if grant else {})})
    response = web.StreamResponse(headers={
        "Content-Type": "application/x-tar",
        "Content-Disposition": f'attachment; filename="{plan.file_name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await stream_blocking_writer(response, lambda sink: write_export(sink, plan))
    await response.write_eof()
    return response


# -- legal holds (admin) -----------------------------------------------------------------------


@routes.route("GET", "/api/consults/{consult_id}/legal-holds",
              summary="Legal holds of a consult, open and cleared (audited)", tag="retention",
              auth=("admin", "auditor"), errors=(404,))
async def get_legal_holds(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = _consult_id(request)
    if consult_id is None:
        raise ConsultNotFound("no consult has this id")
    holds = await s.legal_holds.list(consult_id)
    await s.consults.audit_access(caller.actor, consult_id, "legal_holds")
    return json_response({"legal_holds": holds})


@routes.route("POST", "/api/consults/{consult_id}/legal-holds",
              summary="Place a legal hold: nothing of the consult may be purged (audited)",
              tag="retention", auth=ADMIN, body=LegalHoldIn, success=201, errors=(404,))
async def place_legal_hold(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = _consult_id(request)
    if consult_id is None:
        raise ConsultNotFound("no consult has this id")
    body = parse_json(LegalHoldIn, await request.read())
    return json_response(await s.legal_holds.place(caller.actor, consult_id, body.reason),
                         201)


@routes.route("POST", "/api/consults/{consult_id}/legal-holds/{hold_id}/clear",
              summary="Clear a legal hold, with the reason (audited)", tag="retention",
              auth=ADMIN, body=LegalHoldIn, errors=(404, 409))
async def clear_legal_hold(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = _consult_id(request)
    raw = request.match_info["hold_id"]
    if consult_id is None or not _SEGMENT_ID.match(raw) or len(raw) > 9:
        raise NotFound("no such legal hold")
    body = parse_json(LegalHoldIn, await request.read())
    return json_response(await s.legal_holds.clear(caller.actor, consult_id, int(raw),
                                                   body.reason))


# -- retention purge (admin) -------------------------------------------------------------------


class PurgeIn(StrictModel):
    dry_run: bool


@routes.route("POST", "/api/retention/purge",
              summary="Purge sealed artefacts whose retention ended and that no legal hold "
                      "keeps, one audit entry per deletion; `dry_run` only lists them",
              tag="retention", auth=ADMIN, body=PurgeIn)
async def purge_retention(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    body = parse_json(PurgeIn, await request.read())
    report = await run_purge(s.db, s.storage, actor=caller.actor, now=s.clock.now(),
                             policy=policy_from_settings(s.settings), dry_run=body.dry_run)
    return json_response(report.to_dict())

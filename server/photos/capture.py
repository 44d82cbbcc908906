"""Skin photos: capture requests with one-time tokens, storing scored photos durably, and
reading them back. Photos are medical records (retained ≥15 years).

Order of work for an upload: validate and score, make the thumbnail (executor) → in one
transaction: lock the consult's row and check it still takes photos, claim the request, write
the original and the thumbnail to storage with fsync (executor), insert the row and the audit
entry. A photo the client is told about is therefore on disk and in the database; if anything
fails (token reused meanwhile), the files just written are removed.

Files enter a consult's folder only under its row lock, while its state takes photos: ending
takes the same lock, and the seal comes after the end, so once a consult has ended no capture
that was still on its way (a stream still waits up to 3 s for a keyframe, an upload may be
slow) can add a file beside a sealed manifest. Such a capture stores nothing
(`CaptureDiscarded`) and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import cv2
import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from media.still_capture import StillFrame
from recorder.storage import ArtefactStorage, consult_prefix, key_join
from server.clinical.consult_lifecycle import ConsultState
from server.clinical.consults import load_consult
from server.clinical.live_notifier import LiveNotifier
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import (
    Conflict,
    FieldError,
    GuardianPresenceRequired,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ShouzhenError,
    TransitionNotAllowed,
    Unauthenticated,
)
from server.kernel.models import CaptureRequestRow, PhotoRow
from server.kernel.tokens import CaptureClaims, issue_capture_token
from server.photos.body_sites import InvalidBodySite, SiteSelection, validate_site
from server.photos.decode_pool import DecodePool
from server.photos.photo_intake import (
    CaptureSource,
    IntakeLimits,
    IntakePhoto,
    check_header,
    intake_still,
    intake_upload,
)
from server.photos.photo_quality import ImageRejected, QualityThresholds

CAPTURE_TOKEN_SECONDS = 120
THUMBNAIL_LONG_SIDE = 320
MEDICAL_RECORD = "medical_record"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


# Which consult states take a photo: captures only during the call; the guardian's gallery
# uploads (dermatology intake) from booking until the call ends.
DURING_CALL = frozenset({ConsultState.IN_CALL})
UNTIL_CALL_ENDS = frozenset({ConsultState.BOOKED, ConsultState.WAITING, ConsultState.IN_CALL})


class CaptureDiscarded(TransitionNotAllowed):
    """The consult stopped taking photos before this one could be stored: nothing was kept."""


REJECTION_STATUS = {"image_too_large": 413, "unsupported_image_type": 415, "mime_mismatch": 415}


@dataclass(frozen=True)
class PhotoQuotas:
    """How many photos a consult, and one capture request, may hold: they are medical
    records kept ≥15 years, so one join link must not be able to fill the archive."""

    per_consult: int = 40
    per_capture_request: int = 2  # the device's still and the stream fallback


class PhotoQuotaExceeded(Conflict):
    code = "photo_quota_exceeded"
    title = "No more photos can be stored here"


def check_quota(held_by_consult: int, held_by_request: int | None, quotas: PhotoQuotas) -> None:
    """Pure: refuse one more photo for a consult holding `held_by_consult` (and, for a
    capture request, a request holding `held_by_request`)."""
    if held_by_consult >= quotas.per_consult:
        raise PhotoQuotaExceeded(f"this consult already holds {held_by_consult} photos, the "
                                 f"most it may hold ({quotas.per_consult})",
                                 quota="per_consult", limit=quotas.per_consult)
    if held_by_request is not None and held_by_request >= quotas.per_capture_request:
        raise PhotoQuotaExceeded(f"this capture request already yielded {held_by_request} "
                                 f"photos, the most one request may "
                                 f"({quotas.per_capture_request}); ask for a new one",
                                 quota="per_capture_request",
                                 limit=quotas.per_capture_request)


class PhotoRejected(ShouzhenError):
    status = 422
    code = "photo_rejected"
    title = "The photo cannot be accepted"

    @classmethod
    def from_image_error(cls, error: ImageRejected) -> ShouzhenError:
        code = getattr(error, "code", "photo_rejected")
        if REJECTION_STATUS.get(code) == 413:
            return PayloadTooLarge(str(error))
        rejected = cls(str(error), reason=code)
        rejected.status = REJECTION_STATUS.get(code, 422)
        return rejected


@dataclass(frozen=True)
class CaptureRequest:
    """One pending request for a photo of a body site."""

    id: str
    consult_id: str
    body_site: str
    laterality: str | None
    view: str | None
    expires_at: datetime

    @classmethod
    def of(cls, row: CaptureRequestRow) -> CaptureRequest:
        return cls(id=row.id, consult_id=row.consult_id, body_site=row.body_site,
                   laterality=row.laterality, view=row.view, expires_at=row.expires_at)


@dataclass(frozen=True)
class CaptureTicket:
    request: CaptureRequest
    token: str
    site: SiteSelection


def site_selection(site: str, laterality: str | None, view: str) -> SiteSelection:
    try:
        return validate_site(site, laterality, view)
    except InvalidBodySite as error:
        raise InvalidInput([FieldError("body_site", str(error))]) from None


def make_thumbnail(data: bytes) -> bytes:
    """A small JPEG for the gallery; the reduced decode is fast for large JPEGs and honours
    EXIF orientation, so the thumbnail is upright like the scored image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
    if image is None:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:  # intake decoded it moments ago: this would be a bug, not bad input
        raise RuntimeError("cannot decode an image that passed intake")
    height, width = image.shape[:2]
    scale = min(1.0, THUMBNAIL_LONG_SIDE / max(height, width))
    small = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))),
                       interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 82])
    if not ok:
        raise RuntimeError("thumbnail encoding failed")
    return bytes(encoded)


def photo_view(row: PhotoRow) -> dict[str, Any]:
    base = f"/api/consults/{row.consult_id}/photos/{row.id}"
    return {"id": row.id, "consult_id": row.consult_id, "request_id": row.request_id,
            "source": row.source, "body_site": row.body_site, "laterality": row.laterality,
            "view": row.view, "media_type": row.media_type, "width": row.width,
            "height": row.height, "size_bytes": row.size_bytes, "sha256": row.sha256,
            "quality": row.quality, "needs_retake": row.needs_retake,
            "retention_class": row.retention_class, "captured_by": row.captured_by,
            "captured_at": row.captured_at.isoformat(), "url": f"{base}/image",
            "thumbnail_url": f"{base}/thumbnail"}


class PhotoService:
    def __init__(self, db: Database, clock: Clock, storage: ArtefactStorage, *, secret: str,
                 limits: IntakeLimits, thresholds: QualityThresholds,
                 live: LiveNotifier, quotas: PhotoQuotas | None = None,
                 decodes: DecodePool | None = None) -> None:
        self.db = db
        self.clock = clock
        self.storage = storage
        self.secret = secret
        self.limits = limits
        self.thresholds = thresholds
        self.live = live
        self.quotas = quotas or PhotoQuotas()
        self.decodes = decodes or DecodePool(workers=2)

    def close(self) -> None:
        self.decodes.close()

    async def request_capture(self, actor: Actor, consult_id: str, site: SiteSelection,
                              retake_of: str | None = None) -> CaptureTicket:
        now = self.clock.now()
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if ConsultState(consult.state) is not ConsultState.IN_CALL:
                raise TransitionNotAllowed(f"photos are captured during the call; the consult "
                                           f"is {consult.state}")
            if consult.guardian_confirmed_at is None:
                raise GuardianPresenceRequired("confirm that a guardian is with the child "
                                               "before capturing photos")
            request = CaptureRequestRow(
                id=secrets.token_hex(16), consult_id=consult_id, body_site=site.site.code,
                laterality=site.laterality.value, view=site.view.value, retake_of=retake_of,
                status="pending", requested_by=f"{actor.role}:{actor.subject}",
                requested_at=now, expires_at=now + timedelta(seconds=CAPTURE_TOKEN_SECONDS))
            session.add(request)
            await session.flush()
            await audit_log.append(session, actor, "capture.requested", consult_id=consult_id,
                                   at=now, details={"request_id": request.id,
                                                    "body_site": request.body_site,
                                                    "laterality": request.laterality,
                                                    "view": request.view,
                                                    "retake_of": retake_of})
        token = issue_capture_token(self.secret, consult_id=consult_id, request_id=request.id,
                                    expires_at=request.expires_at)
        return CaptureTicket(CaptureRequest.of(request), token, site)

    async def accept_capture(self, claims: CaptureClaims, data: bytes, mime: str) -> PhotoRow:
        """The guardian's device uploads the still for one request, once; the people in the
        call see it at once."""
        request = await self._pending_request(claims)
        await self._refuse_over_quota(claims.consult_id, request.id)
        self._check_header(data, mime)
        intake = await self._intake(partial(intake_upload, data, mime,
                                            source=CaptureSource.DEVICE, limits=self.limits,
                                            thresholds=self.thresholds),
                                    consult_id=claims.consult_id)
        row = await self._store(Actor("guardian", claims.consult_id), claims.consult_id,
                                intake, request=request, accepting=DURING_CALL)
        await self.live.photo_captured(row.consult_id, photo_view(row))
        return row

    async def accept_stream_still(self, request: CaptureRequest, still: StillFrame) -> None:
        """The fallback decoded from the forwarded stream; does not use up the request. The
        people in the call see it at once. `CaptureDiscarded` if the call ended meanwhile."""
        intake = await self._intake(partial(intake_still, still, thresholds=self.thresholds))
        row = await self._store(Actor.system("still_capture"), request.consult_id, intake,
                                request=request, claim=False, accepting=DURING_CALL)
        await self.live.photo_captured(row.consult_id, photo_view(row))

    async def accept_guardian_upload(self, actor: Actor, consult_id: str, data: bytes,
                                     mime: str, site: SiteSelection | None) -> PhotoRow:
        """A photo from the phone's gallery during pre-consultation (dermatology intake).
        A refusal (over quota, not an image, too many pixels, decoding busy) is audited: the
        capture upload's are audited by its route, this route's credential is the join link."""
        async with self.db.reading() as session:
            consult = await load_consult(session, consult_id)
        if ConsultState(consult.state) not in UNTIL_CALL_ENDS:
            raise TransitionNotAllowed(f"the consult is {consult.state}")
        try:
            await self._refuse_over_quota(consult_id, None)
            self._check_header(data, mime)
            intake = await self._intake(partial(intake_upload, data, mime,
                                                source=CaptureSource.UPLOAD, limits=self.limits,
                                                thresholds=self.thresholds),
                                        consult_id=consult_id)
            return await self._store(actor, consult_id, intake, request=None, site=site,
                                     accepting=UNTIL_CALL_ENDS)
        except ShouzhenError as error:
            async with self.db.transaction() as session:
                await audit_log.append(session, actor, "photo.refused", consult_id=consult_id,
                                       details={"source": CaptureSource.UPLOAD.value,
                                                "status": error.status, "code": error.code,
                                                "reason": error.detail[:300],
                                                "size_bytes": len(data)})
            raise

    async def _pending_request(self, claims: CaptureClaims) -> CaptureRequest:
        async with self.db.reading() as session:
            request = await session.get(CaptureRequestRow, claims.request_id)
        if request is None or request.consult_id != claims.consult_id:
            raise Unauthenticated("the capture token does not match a capture request")
        if request.status != "pending":
            raise Conflict("this capture token was already used; the physician can ask again")
        if request.expires_at <= self.clock.now():
            raise Unauthenticated("the capture request has expired; the physician can ask "
                                  "again")
        return CaptureRequest.of(request)

    async def _refuse_over_quota(self, consult_id: str, request_id: str | None) -> None:
        """Before any decoding: a photo over quota costs nothing but this count. `_store`
        counts again under the consult's row lock, where it is decided."""
        async with self.db.reading() as session:
            check_quota(*await _held(session, consult_id, request_id), self.quotas)

    def _check_header(self, data: bytes, mime: str) -> None:
        """The file's header (size, type, declared pixels) read on the loop — a short parse,
        no decoding — so a photo over the pixel cap never waits for a decode place."""
        try:
            check_header(data, mime, self.limits)
        except ImageRejected as error:
            raise PhotoRejected.from_image_error(error) from None

    async def _intake(self, work: Any, *, consult_id: str | None = None) -> IntakePhoto:
        try:
            intake: IntakePhoto = await self.decodes.run(consult_id, work)
        except ImageRejected as error:
            raise PhotoRejected.from_image_error(error) from None
        return intake

    async def _store(self, actor: Actor, consult_id: str, intake: IntakePhoto, *,
                     request: CaptureRequest | None, accepting: frozenset[ConsultState],
                     claim: bool = True, site: SiteSelection | None = None) -> PhotoRow:
        photo_id = secrets.token_hex(16)
        folder = key_join(consult_prefix(consult_id), "photos")
        key = key_join(folder, f"{photo_id}.{EXTENSIONS.get(intake.mime, 'bin')}")
        thumb_key = key_join(folder, f"{photo_id}.thumb.jpg")
        loop = asyncio.get_running_loop()
        thumbnail = await self.decodes.run(None, partial(make_thumbnail, intake.data))
        now = self.clock.now()
        row = PhotoRow(
            id=photo_id, consult_id=consult_id, request_id=request.id if request else None,
            source=intake.source.value,
            body_site=request.body_site if request else (site.site.code if site else None),
            laterality=request.laterality if request else (
                site.laterality.value if site else None),
            view=request.view if request else (site.view.value if site else None),
            media_type=intake.mime, width=intake.width, height=intake.height,
            size_bytes=intake.byte_size, sha256=intake.sha256, storage_key=key,
            thumbnail_key=thumb_key, quality=intake.quality.as_dict(),
            needs_retake=intake.quality.needs_retake, retention_class=MEDICAL_RECORD,
            captured_by=f"{actor.role}:{actor.subject}", captured_at=now)
        try:
            async with self.db.transaction() as session:
                consult = await load_consult(session, consult_id, for_update=True)
                if ConsultState(consult.state) not in accepting:
                    raise CaptureDiscarded(f"the consult is {consult.state}: the photo was not "
                                           "stored")
                check_quota(*await _held(session, consult_id, request.id if request else None),
                            self.quotas)
                if request is not None and claim:
                    claimed = await session.execute(
                        sa.update(CaptureRequestRow)
                        .where(CaptureRequestRow.id == request.id,
                               CaptureRequestRow.status == "pending")
                        .values(status="fulfilled", fulfilled_at=now))
                    if claimed.rowcount != 1:  # type: ignore[attr-defined]
                        raise Conflict("this capture token was already used")
                # Under the consult's row lock: the end (and so the seal) waits for these.
                stored = await loop.run_in_executor(None, self.storage.put, key, intake.data)
                await loop.run_in_executor(None, self.storage.put, thumb_key, thumbnail)
                session.add(row)
                await session.flush()
                await audit_log.append(session, actor, "capture.stored", consult_id=consult_id,
                                       at=now, details={
                                           "photo_id": photo_id, "request_id": row.request_id,
                                           "source": row.source, "body_site": row.body_site,
                                           "sha256": row.sha256, "stored_bytes": stored.size,
                                           "width": row.width, "height": row.height,
                                           "flags": row.quality.get("flags", [])})
        except BaseException:
            for orphan in (key, thumb_key):
                with contextlib.suppress(Exception):
                    await loop.run_in_executor(None, partial(
                        self.storage.delete, orphan, bypass_governance=True))
            raise
        return row

    async def list(self, consult_id: str) -> list[PhotoRow]:
        async with self.db.reading() as session:
            return list((await session.scalars(sa.select(PhotoRow).where(
                PhotoRow.consult_id == consult_id).order_by(PhotoRow.captured_at,
                                                             PhotoRow.id))).all())

    async def get(self, consult_id: str, photo_id: str) -> PhotoRow:
        async with self.db.reading() as session:
            row = await session.get(PhotoRow, photo_id)
        if row is None or row.consult_id != consult_id:
            raise NotFound(f"no photo {photo_id!r} in this consult")
        return row

    async def read(self, key: str) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(None, self.storage.read, key)


async def _held(session: AsyncSession, consult_id: str,
                request_id: str | None) -> tuple[int, int | None]:
    """How many photos the consult holds, and the capture request (if any) has yielded."""
    by_consult = (await session.execute(sa.select(sa.func.count()).select_from(PhotoRow).where(
        PhotoRow.consult_id == consult_id))).scalar_one()
    if request_id is None:
        return by_consult, None
    by_request = (await session.execute(sa.select(sa.func.count()).select_from(PhotoRow).where(
        PhotoRow.request_id == request_id))).scalar_one()
    return by_consult, by_request


def expires_in(request: CaptureRequestRow, now: datetime) -> float:
    return max(0.0, (request.expires_at - now).total_seconds())

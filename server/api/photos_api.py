"""Photo endpoints: the device upload with a one-time capture token, gallery uploads before
the call, the gallery itself, and DICOM export for the hospital's PACS."""

from __future__ import annotations

import asyncio
from datetime import tzinfo
from functools import partial

from aiohttp import web

from server.api.request_services import services_of
from server.api.responses import json_response
from server.api.routes import ApiRoutes, Caller, QueryParam
from server.clinical.consults import ConsultRecord
from server.kernel.errors import Conflict, PayloadTooLarge
from server.photos.body_sites import BODY_SITES
from server.photos.capture import photo_view, site_selection
from server.photos.dicom_export import PatientInfo, PhotoInfo, StudyInfo, export_photo
from server.photos.photo_intake import CaptureSource

routes = ApiRoutes()


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes as they arrive (photos are larger than
    the JSON body limit that applies everywhere else)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the photo is {request.content_length} bytes; the limit is "
                              f"{limit}")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the photo is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@routes.route("POST", "/api/consults/{consult_id}/photos/capture",
              summary="Upload the still for one capture request (one-time capture token)",
              tag="photos", auth=("capture",), success=201, errors=(409, 413, 415, 422, 503))
async def upload_capture(request: web.Request, caller: Caller) -> web.Response:
    # Every refusal here, the upload's too, is audited by the registry (server/api/auth.py).
    s = services_of(request)
    assert caller.capture is not None  # the route's only credential
    data = await read_limited(request, s.settings.max_photo_bytes)
    row = await s.photos.accept_capture(caller.capture, data, request.content_type)
    return json_response(photo_view(row), 201)


@routes.route("POST", "/api/consults/{consult_id}/photos",
              summary="The guardian adds a photo from the phone before the call",
              tag="photos", auth=("guardian",), success=201, errors=(409, 413, 415, 422, 503),
              query=(QueryParam("body_site", "a body-site code (GET /api/body-sites)"),
                     QueryParam("laterality", "left | right | midline | bilateral"),
                     QueryParam("view", "overview | close_up")))
async def upload_gallery_photo(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    site = None
    if "body_site" in request.query:
        site = site_selection(request.query["body_site"], request.query.get("laterality"),
                              request.query.get("view", "overview"))
    data = await read_limited(request, s.settings.max_photo_bytes)
    row = await s.photos.accept_guardian_upload(caller.actor, consult_id, data,
                                                request.content_type, site)
    return json_response(photo_view(row), 201)


@routes.route("GET", "/api/consults/{consult_id}/photos", summary="The consult's photos",
              tag="photos", auth=("admin", "auditor", "physician", "guardian"))
async def list_photos(request: web.Request, caller: Caller) -> web.Response:
    consult_id = request.match_info["consult_id"]
    rows = await services_of(request).photos.list(consult_id)
    return json_response({"photos": [photo_view(row) for row in rows]})


async def _photo_bytes(request: web.Request, caller: Caller, which: str) -> web.Response:
    s = services_of(request)
    consult_id, photo_id = request.match_info["consult_id"], request.match_info["photo_id"]
    photos = s.photos
    row = await photos.get(consult_id, photo_id)
    if which == "image":
        await s.consults.audit_access(caller.actor, consult_id, f"photo:{photo_id}")
        body, content_type = await photos.read(row.storage_key), row.media_type
    else:
        body, content_type = await photos.read(row.thumbnail_key), "image/jpeg"
    response = web.Response(body=body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"  # a child's skin: never in a cache
    return response


@routes.route("GET", "/api/consults/{consult_id}/photos/{photo_id}/image",
              summary="The photo as stored (audited)", tag="photos",
              auth=("admin", "auditor", "physician", "guardian"), errors=(404,),
              success_media_type="image/*")
async def get_photo_image(request: web.Request, caller: Caller) -> web.Response:
    return await _photo_bytes(request, caller, "image")


@routes.route("GET", "/api/consults/{consult_id}/photos/{photo_id}/thumbnail",
              summary="A small JPEG for the gallery", tag="photos",
              auth=("admin", "auditor", "physician", "guardian"), errors=(404,),
              success_media_type="image/jpeg")
async def get_photo_thumbnail(request: web.Request, caller: Caller) -> web.Response:
    return await _photo_bytes(request, caller, "thumbnail")


@routes.route("GET", "/api/consults/{consult_id}/photos/{photo_id}/dicom",
              summary="The photo as a DICOM VL Photographic Image (audited)", tag="photos",
              auth=("admin", "auditor", "physician"), errors=(404,),
              success_media_type="application/dicom")
async def get_photo_dicom(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id, photo_id = request.match_info["consult_id"], request.match_info["photo_id"]
    photos = s.photos
    row = await photos.get(consult_id, photo_id)
    if row.body_site is None:
        raise Conflict("this photo has no body site; DICOM needs one (it was uploaded "
                       "from the gallery without a site)")
    record = await s.consults.record(consult_id)
    data = await photos.read(row.storage_key)
    dicom = await asyncio.get_running_loop().run_in_executor(None, partial(
        export_photo, _patient(record), _study(record, s.clock.timezone), PhotoInfo(
            photo_id=row.id, image=data, source=CaptureSource(row.source),
            site=site_selection(row.body_site, row.laterality, row.view or "overview"),
            acquired_at=row.captured_at)))
    await s.consults.audit_access(caller.actor, consult_id, f"photo_dicom:{photo_id}")
    return web.Response(body=dicom, content_type="application/dicom", headers={
        "Content-Disposition": f'attachment; filename="{photo_id}.dcm"'})


@routes.public("GET", "/api/body-sites", summary="Body sites for photos (codes and names)",
               tag="reference")
async def body_sites(request: web.Request) -> web.Response:
    return json_response({"body_sites": [
        {"code": site.code, "zh": site.name_zh, "en": site.name_en, "region": site.region.value,
         "lateralities": sorted(side.value for side in site.lateralities)}
        for site in BODY_SITES.values()]})


def _patient(record: ConsultRecord) -> PatientInfo:
    name = record.child.name
    return PatientInfo(patient_id=record.child.hospital_patient_id or record.child.id,
                       family_name=name[:1], given_name=name[1:],
                       sex="M" if record.child.sex == "male" else "F",
                       birth_date=record.child.birth_date)


def _study(record: ConsultRecord, zone: tzinfo) -> StudyInfo:
    return StudyInfo(consult_id=record.consult.id,
                     started_at=record.consult.admitted_at or record.consult.scheduled_start,
                     physician_name=record.physician.name, timezone=zone)

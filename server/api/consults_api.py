"""Consult endpoints: booking and cancelling (admin), the consult view (everyone entitled
to it), the recording notice and the pre-consultation intake (the guardian)."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from server.api.request_services import services_of
from server.api.responses import json_response
from server.api.routes import PAGING, ApiRoutes, Caller, QueryParam, paging
from server.clinical.booking import BookingIn, CancelIn
from server.clinical.consult_lifecycle import ConsultState, ConsultTrigger
from server.clinical.consults import ConsultRecord, JoinLinks, consult_view
from server.clinical.growth_intake import GROWTH_SPECIALTIES, growth_report
from server.clinical.intake import INTAKE_MODELS, GrowthIntake, NutritionIntake
from server.clinical.outcome import EndConsult
from server.clinical.referral import DEPARTMENTS, REASON_NAMES, URGENCY_NAMES
from server.clinical.specialties import SPECIALTY_NAMES, Specialty
from server.kernel.errors import Conflict, MalformedRequest, NotFound
from server.kernel.models import ConsultRow
from server.kernel.validation import parse_json

routes = ApiRoutes()


def _links(links: JoinLinks) -> dict[str, str]:
    return {"physician": links.physician, "guardian": links.guardian,
            "expires_at": links.expires_at.isoformat()}


def _view(record: ConsultRecord, role: str) -> dict[str, object]:
    return consult_view(record, for_staff=role in ("admin", "auditor"))


@routes.route("POST", "/api/consults", summary="Book a first-visit consult; returns join links",
              tag="consults", auth=("admin",), body=BookingIn, success=201, errors=(404, 409))
async def book_consult(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    booking = parse_json(BookingIn, await request.read())
    record, links = await s.consults.book(caller.actor, booking)
    return json_response({"consult": consult_view(record, for_staff=True),
                          "join_links": _links(links)}, 201)


@routes.route("GET", "/api/consults", summary="List consults (newest first)", tag="consults",
              auth=("admin", "auditor"),
              query=(QueryParam("state", "booked | waiting | in_call | ended | …"),
                     *PAGING))
async def list_consults(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    limit, offset = paging(request.query)
    try:
        state = ConsultState(request.query["state"]) if "state" in request.query else None
    except ValueError as error:
        raise MalformedRequest(f"bad query parameter: {error}") from None
    query = sa.select(ConsultRow).order_by(ConsultRow.created_at.desc(), ConsultRow.id)
    if state is not None:
        query = query.where(ConsultRow.state == state.value)
    async with s.db.reading() as session:
        rows = (await session.scalars(query.limit(limit).offset(offset))).all()
    return json_response({"consults": [
        {"id": r.id, "specialty": r.specialty, "state": r.state, "outcome": r.outcome,
         "physician_id": r.physician_id, "scheduled_start": r.scheduled_start.isoformat()}
        for r in rows], "limit": limit, "offset": offset})


@routes.route("GET", "/api/consults/{consult_id}", summary="One consult, as the caller may see it",
              tag="consults", auth=("admin", "auditor", "physician", "guardian"), errors=(404,))
async def get_consult(request: web.Request, caller: Caller) -> web.Response:
    return json_response(await _audited_view(request, caller, "consult"))


async def _audited_view(request: web.Request, caller: Caller, what: str) -> dict[str, object]:
    """The consult as the caller may see it; the read is in the audit log before it is sent."""
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    record = await s.consults.record(consult_id)
    await s.consults.audit_access(caller.actor, consult_id, what)
    return _view(record, caller.actor.role)


@routes.route("POST", "/api/consults/{consult_id}/cancel", summary="Cancel before the call",
              tag="consults", auth=("admin",), body=CancelIn, errors=(404, 409))
async def cancel_consult(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    body = parse_json(CancelIn, await request.read())
    record = await s.consults.cancel(caller.actor, consult_id, body.reason)
    return json_response(_view(record, "admin"))


@routes.route("POST", "/api/consults/{consult_id}/no-show",
              summary="Mark that the family did not come", tag="consults", auth=("admin",),
              body=CancelIn, errors=(404, 409))
async def mark_no_show(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    body = parse_json(CancelIn, await request.read())
    record = await s.consults.cancel(caller.actor, consult_id, body.reason,
                                     ConsultTrigger.NO_SHOW)
    return json_response(_view(record, "admin"))


@routes.route("POST", "/api/consults/{consult_id}/join-links",
              summary="Issue the two join links again (audited)", tag="consults",
              auth=("admin",), success=201, errors=(404, 409))
async def reissue_join_links(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    return json_response(_links(await s.consults.reissue_links(caller.actor, consult_id)), 201)


@routes.route("POST", "/api/consults/{consult_id}/recording-notice",
              summary="The guardian accepts that the consult is recorded", tag="consults",
              auth=("guardian",), errors=(404, 409))
async def accept_recording_notice(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    record = await s.consults.accept_recording_notice(caller.actor, consult_id)
    return json_response(_view(record, caller.actor.role))


@routes.route("PUT", "/api/consults/{consult_id}/intake",
              summary="Submit or correct the pre-consultation intake (before admission)",
              tag="intake", auth=("guardian",), errors=(404, 409, 422))
async def put_intake(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    record = await s.consults.submit_intake(caller.actor, consult_id, await request.read())
    return json_response(_view(record, caller.actor.role)["intake"])


@routes.route("POST", "/api/consults/{consult_id}/end",
              summary="End the call with an outcome: completed, referred or aborted",
              tag="consults", auth=("physician",), body=EndConsult, errors=(404, 409, 422))
async def end_consult(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    body = parse_json(EndConsult, await request.read()).root
    ended = await s.consults.end(caller.actor, consult_id, body)
    return json_response(ended.participant_view)


@routes.public("GET", "/api/reference/referral",
               summary="Referral reasons, urgencies and departments (codes and names)",
               tag="reference")
async def referral_reference(request: web.Request) -> web.Response:
    def named(table: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
        return [{"code": code, "zh": zh, "en": en} for code, (zh, en) in table.items()]

    return json_response({"reasons": named(REASON_NAMES), "urgencies": named(URGENCY_NAMES),
                          "departments": named(DEPARTMENTS)})


@routes.route("GET", "/api/consults/{consult_id}/intake", summary="The intake as submitted",
              tag="intake", auth=("admin", "auditor", "physician", "guardian"), errors=(404,))
async def get_intake(request: web.Request, caller: Caller) -> web.Response:
    return json_response((await _audited_view(request, caller, "intake"))["intake"])


@routes.route("GET", "/api/consults/{consult_id}/growth",
              summary="Growth assessment (WHO z-scores, flags, velocity, target height) and "
                      "chart data from the intake", tag="intake",
              auth=("admin", "auditor", "physician"), errors=(404, 409))
async def get_growth(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    consult_id = request.match_info["consult_id"]
    record = await s.consults.record(consult_id)
    if record.consult.specialty not in GROWTH_SPECIALTIES:
        raise Conflict(f"no growth assessment for a {record.consult.specialty} consult")
    if record.intake is None:
        raise NotFound("the guardian has not submitted the intake yet")
    intake = INTAKE_MODELS[Specialty(record.consult.specialty)].model_validate(
        record.intake.data, strict=False)
    assert isinstance(intake, (GrowthIntake, NutritionIntake))
    report = growth_report(intake, sex=record.child.sex, birth_date=record.child.birth_date,
                           today=s.clock.today())
    await s.consults.audit_access(caller.actor, consult_id, "growth")
    return json_response(report)


@routes.public("GET", "/api/intake-forms/{specialty}",
               summary="The JSON Schema of a specialty's intake form", tag="intake",
               errors=(404,))
async def get_intake_form(request: web.Request) -> web.Response:
    code = request.match_info["specialty"]
    try:
        specialty = Specialty(code)
    except ValueError:
        raise web.HTTPNotFound(text=f"no intake form for {code!r}") from None
    return json_response({"specialty": specialty.value,
                          "name": dict(zip(("zh", "en"), SPECIALTY_NAMES[specialty], strict=True)),
                          "schema": INTAKE_MODELS[specialty].model_json_schema()})

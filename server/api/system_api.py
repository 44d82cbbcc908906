"""Health, metrics, the OpenAPI document, reference lists, the audit chain check, and the
caller's own session (what a join link is for)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from server.api.openapi import build_document
from server.api.request_services import services_of
from server.api.responses import json_response
from server.api.routes import Access, ApiRoutes, Caller, Endpoint
from server.clinical.specialties import SPECIALTY_NAMES, Specialty
from server.kernel import audit_log
from server.kernel.errors import ServiceUnavailable

routes = ApiRoutes()
ENDPOINTS: web.AppKey[tuple[Endpoint, ...]] = web.AppKey("endpoints")


def shouzhen_version() -> str:
    try:
        return version("shouzhen")
    except PackageNotFoundError:
        return "0.0.0+source"


@routes.public("GET", "/healthz", summary="Liveness and database reachability", tag="system",
               errors=(503,))
async def healthz(request: web.Request) -> web.Response:
    s = services_of(request)
    try:
        await s.db.ping()
    except Exception as error:
        raise ServiceUnavailable(f"database unreachable: {type(error).__name__}") from None
    return json_response({"status": "ok", "database": "ok", "version": shouzhen_version()})


@routes.route("GET", "/metrics", summary="Prometheus metrics (admin or auditor key: the "
              "figures name consults' load and the hospital's systems)", tag="system",
              auth=("admin", "auditor"), success_media_type="text/plain")
async def metrics(request: web.Request, caller: Caller) -> web.Response:
    body = services_of(request).metrics.exposition()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


@routes.public("GET", "/api/openapi.json", summary="This document", tag="system")
async def openapi_document(request: web.Request) -> web.Response:
    endpoints: tuple[Endpoint, ...] = request.app[ENDPOINTS]
    return json_response(build_document(endpoints, shouzhen_version()))


@routes.public("GET", "/api/specialties", summary="The pilot's specialties", tag="reference")
async def specialties(request: web.Request) -> web.Response:
    return json_response({"specialties": [
        {"code": s.value, "zh": SPECIALTY_NAMES[s][0], "en": SPECIALTY_NAMES[s][1]}
        for s in Specialty]})


@routes.route("GET", "/api/session", summary="Who the bearer is: role, and consult for links",
              tag="system", auth=Access(("admin", "auditor", "physician", "guardian"),
                                        any_consult=True))
async def session_info(request: web.Request, caller: Caller) -> web.Response:
    body: dict[str, object] = {"role": caller.actor.role, "subject": caller.actor.subject}
    if caller.join is not None:
        body.update(consult_id=caller.join.consult_id,
                    expires_at=caller.join.expires_at.isoformat())
    return json_response(body)


@routes.route("GET", "/api/audit/verify", summary="Check the whole hash chain", tag="audit",
              auth=("admin", "auditor"))
async def verify_audit_chain(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    async with s.db.reading() as session:
        verdict = await audit_log.verify_chain(session)
    async with s.db.transaction() as session:
        await audit_log.append(session, caller.actor, "audit.verified", details=verdict.to_dict())
    return json_response(verdict.to_dict())

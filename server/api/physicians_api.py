"""Admin endpoints for the physician registry and the whitelist."""

from __future__ import annotations

from aiohttp import web

from server.api.request_services import services_of
from server.api.responses import json_response
from server.api.routes import ApiRoutes, Caller, QueryParam
from server.clinical.physicians import (
    PhysicianIn,
    PhysicianPatch,
    ReRegistrationIn,
    WhitelistChangeIn,
)
from server.clinical.whitelist import WhitelistStatus
from server.kernel.errors import MalformedRequest
from server.kernel.validation import parse_json

routes = ApiRoutes()


@routes.route("POST", "/api/physicians", summary="Register a physician with credentials",
              tag="whitelist", auth=("admin",), body=PhysicianIn, success=201, errors=(409,))
async def create_physician(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    data = parse_json(PhysicianIn, await request.read())
    return json_response(await s.physicians.create(caller.actor, data), 201)


@routes.route("GET", "/api/physicians", summary="List physicians with eligibility today",
              tag="whitelist", auth=("admin",),
              query=(QueryParam("status", "not_listed | active | suspended | revoked"),))
async def list_physicians(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    status_text = request.query.get("status")
    status = None
    if status_text is not None:
        try:
            status = WhitelistStatus(status_text)
        except ValueError:
            raise MalformedRequest(f"unknown whitelist status {status_text!r}") from None
    return json_response({"physicians": await s.physicians.list(status=status)})


@routes.route("GET", "/api/whitelist", summary="Physicians who can be booked today",
              tag="whitelist", auth=("admin",))
async def list_whitelist(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    return json_response({"as_of": s.clock.today().isoformat(),
                  "physicians": await s.physicians.list(bookable_only=True)})


@routes.route("GET", "/api/physicians/{physician_id}", summary="One physician with history",
              tag="whitelist", auth=("admin",), errors=(404,))
async def get_physician(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    return json_response(await s.physicians.get(request.match_info["physician_id"]))


@routes.route("PATCH", "/api/physicians/{physician_id}", summary="Update credentials",
              tag="whitelist", auth=("admin",), body=PhysicianPatch, errors=(404,))
async def update_physician(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    patch = parse_json(PhysicianPatch, await request.read())
    return json_response(await s.physicians.update(caller.actor, request.match_info["physician_id"],
                                           patch))


@routes.route("POST", "/api/physicians/{physician_id}/whitelist-status",
              summary="List, suspend, reinstate or revoke (kept with who, when, why)",
              tag="whitelist", auth=("admin",), body=WhitelistChangeIn, errors=(404, 409))
async def change_whitelist_status(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    change = parse_json(WhitelistChangeIn, await request.read())
    return json_response(await s.physicians.change_status(caller.actor,
                                                  request.match_info["physician_id"], change))


@routes.route("POST", "/api/physicians/{physician_id}/re-registration",
              summary="Register a revoked physician anew after a new review: a new record "
                      "that supersedes the revoked one", tag="whitelist", auth=("admin",),
              body=ReRegistrationIn, success=201, errors=(404, 409))
async def re_register_physician(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    data = parse_json(ReRegistrationIn, await request.read())
    return json_response(await s.physicians.re_register(
        caller.actor, request.match_info["physician_id"], data), 201)

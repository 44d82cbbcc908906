"""Prescribing safety over HTTP: the physician records who accompanies a child under 6;
admins keep the hospital's local drug-catalogue entries; the catalogue with its version
and sources is readable by staff."""

from __future__ import annotations

from aiohttp import web

from server.api.request_services import services_of
from server.api.responses import json_response
from server.api.routes import ApiRoutes, Caller, QueryParam
from server.clinical.drug_catalogue.suggestions import suggestions
from server.clinical.local_drug_entries import LocalDrugEntries, LocalDrugEntryIn, RetireIn
from server.clinical.young_child_prescribing import AccompanyingPhysicianIn
from server.kernel.errors import MalformedRequest, NotFound
from server.kernel.validation import parse_json

routes = ApiRoutes()


def _local_entries(request: web.Request) -> LocalDrugEntries:
    s = services_of(request)
    return LocalDrugEntries(s.db, s.clock)


@routes.route("POST", "/api/consults/{consult_id}/accompanying-physician",
              summary="Record the physician accompanying a child under 6 (needed for an online "
                      "prescription; 互联网诊疗管理办法 第十九条)", tag="consults",
              auth=("physician",), body=AccompanyingPhysicianIn, errors=(404, 409, 422))
async def record_accompanying_physician(request: web.Request, caller: Caller) -> web.Response:
    s = services_of(request)
    body = parse_json(AccompanyingPhysicianIn, await request.read())
    recorded = await s.consults.record_accompanying_physician(
        caller.actor, request.match_info["consult_id"], body)
    return json_response(recorded)


@routes.route("GET", "/api/drug-catalogue",
              summary="The drug catalogue: version, sources, classes and rules, national "
                      "entries and the hospital's local entries", tag="drug-catalogue",
              auth=("admin", "auditor"))
async def get_drug_catalogue(request: web.Request, caller: Caller) -> web.Response:
    entries = _local_entries(request)
    catalogue = await entries.catalogue()
    national = [e for e in catalogue.entries if e.local_id is None]
    return json_response({
        "version": catalogue.version,
        "sources": [{"id": s.id, "title": s.title, "issuer": s.issuer,
                     "reference": s.reference, "date": s.date} for s in catalogue.sources],
        "classes": {c.code: {"zh": c.zh, "en": c.en, "rule": c.rule}
                    for c in catalogue.classes.values()},
        "entries": [{"generic_name_zh": e.generic_name_zh, "inn": e.inn,
                     "drug_class": e.drug_class, "rule": e.rule, "source": e.source,
                     "aliases": list(e.aliases), "salts": list(e.salts), "note": e.note}
                    for e in national],
        "local_entries": await entries.listed(),
    })


@routes.route("POST", "/api/drug-catalogue/local-entries",
              summary="Add a local entry (hospital formulary extension): refused or "
                      "offline-only from now on (audited)", tag="drug-catalogue",
              auth=("admin",), body=LocalDrugEntryIn, success=201, errors=(422,))
async def add_local_entry(request: web.Request, caller: Caller) -> web.Response:
    body = parse_json(LocalDrugEntryIn, await request.read())
    return json_response(await _local_entries(request).add(caller.actor, body), 201)


@routes.route("POST", "/api/drug-catalogue/local-entries/{entry_id}/retire",
              summary="Retire a local entry (audited; the national lists cannot be retired)",
              tag="drug-catalogue", auth=("admin",), body=RetireIn, errors=(404, 409, 422))
async def retire_local_entry(request: web.Request, caller: Caller) -> web.Response:
    body = parse_json(RetireIn, await request.read())
    try:
        entry_id = int(request.match_info["entry_id"])
    except ValueError:
        raise NotFound(f"no local drug-catalogue entry {request.match_info['entry_id']!r}") \
            from None
    return json_response(await _local_entries(request).retire(caller.actor, entry_id, body))


@routes.route("GET", "/api/consults/{consult_id}/drug-names",
              summary="Drug names of the catalogue matching what the physician types, with their "
                      "class and rule (for the prescription form's suggestions)",
              tag="drug-catalogue", auth=("physician",), errors=(400,),
              query=(QueryParam("q", "what was typed (1–100 characters)"),))
async def drug_names(request: web.Request, caller: Caller) -> web.Response:
    typed = request.query.get("q", "")
    if not 1 <= len(typed) <= 100:
        raise MalformedRequest("q must be 1–100 characters")
    catalogue = await _local_entries(request).catalogue()
    return json_response({"version": catalogue.version, "names": [
        {"name": s.name, "generic_name_zh": s.generic_name_zh, "inn": s.inn,
         "drug_class": s.drug_class, "class_name": {"zh": s.class_zh, "en": s.class_en},
         "rule": s.rule} for s in suggestions(catalogue, typed)]})

"""A route is declared once with its auth: the registry enforces the declaration, the OpenAPI
document lists it, and no handler repeats or contradicts it."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.api.access import SCHEMES, Access, IncoherentAccess, Scheme
from server.api.auth import REFUSALS
from server.api.openapi import SECURITY_SCHEMES
from server.api.replay_grants import issue_grant
from server.api.routes import ApiRoutes, Caller, Endpoint
from server.app.app import all_endpoints
from server.kernel.models import AuditEntryRow
from server.kernel.tokens import issue_capture_token

from ..conftest import booking_for

ENDPOINTS = all_endpoints()
GUARDED = [e for e in ENDPOINTS if not e.access.public]
# Where credentials are read and refusals decided: a handler module naming any of these
# checks (or refuses) by hand what its declaration already says.
AUTH_NAMES = {"admit", "enforced", "identify", "bearer_token", "record_refusal",
              "read_join_token", "read_capture_token", "read_grant", "Forbidden",
              "Unauthenticated"}


def _name(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


# -- the declaration itself --------------------------------------------------------------------


def test_the_openapi_document_knows_every_scheme_a_route_can_declare():
    assert set(SECURITY_SCHEMES) == set(SCHEMES)


async def test_the_openapi_document_lists_each_route_s_declared_credentials(api):
    document = await (await api.client.get("/api/openapi.json")).json()
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        listed = [scheme for entry in operation.get("security", []) for scheme in entry]
        assert listed == list(endpoint.access.schemes), _name(endpoint)
        refusals = {"401", "403"} & set(operation["responses"])
        assert refusals == (set() if endpoint.access.public else {"401", "403"}), (
            _name(endpoint))


def test_a_handler_takes_the_caller_exactly_when_its_route_has_auth():
    for endpoint in ENDPOINTS:
        parameters = list(inspect.signature(endpoint.handler).parameters)
        expected = ["request"] if endpoint.access.public else ["request", "caller"]
        assert parameters == expected, _name(endpoint)


@pytest.mark.parametrize(("path", "auth"), [
    ("/api/physicians", ("physician",)),  # a link, but no consult to hold it against
    ("/api/consults/{consult_id}/photos/capture", ("capture", "guardian")),
    ("/api/session", ("capture",)),
    ("/api/consults/{consult_id}", Access(("guardian",), any_consult=True)),
    ("/api/consults", ()),  # no auth is declared with .public(), visibly
    ("/api/consults", ("root",)),
])
def test_a_declaration_the_registry_could_not_enforce_is_refused_at_import(path, auth):
    async def handler(request, caller: Caller):  # pragma: no cover - never served
        raise AssertionError

    with pytest.raises(IncoherentAccess):
        ApiRoutes().route("GET", path, summary="x", tag="x", auth=auth)(handler)


def test_no_handler_module_reads_credentials_or_refuses_access_itself():
    modules = sorted({endpoint.handler.__module__ for endpoint in ENDPOINTS})
    assert len(modules) >= 6, modules
    found = []
    for module in modules:
        source = Path(importlib.import_module(module).__file__ or "").read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module in (
                    "server.api.auth", "server.api.replay_grants", "server.kernel.tokens"):
                names = {alias.name for alias in node.names} - {"Caller", "ReplayGrant",
                                                                 "issue_grant"}
                if names:
                    found.append(f"{module}:{node.lineno} imports {sorted(names)}")
            name = (node.id if isinstance(node, ast.Name)
                    else node.attr if isinstance(node, ast.Attribute) else None)
            if name in AUTH_NAMES:
                found.append(f"{module}:{node.lineno} uses {name}")
            if isinstance(node, ast.Constant) and node.value == "Authorization":
                found.append(f"{module}:{node.lineno} reads the Authorization header")
    assert found == []


# -- the declaration enforced, route by route ----------------------------------------------------


async def _refusals(api) -> int:
    """Refusals audited so far: the refusal ledger's open windows closed, the sum of the
    entries' counts (a repeat of one kind within a window is counted into one entry)."""
    await api.client.app[REFUSALS].flush()
    async with api.services.db.reading() as session:
        details = (await session.scalars(sa.select(AuditEntryRow.details).where(
            AuditEntryRow.action == "access.refused"))).all()
    return sum(json.loads(text)["count"] for text in details)


def _url(endpoint: Endpoint, consult_id: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: consult_id if m[1] == "consult_id" else "1",
                  endpoint.path)


async def test_every_route_refuses_what_its_declaration_does_not_name_and_admits_what_it_does(
        api, booked_consult, clock):
    consult = await booked_consult()
    booked = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        consult["consult"]["physician"]["id"], child={
            "name": "王二", "sex": "male", "birth_date": "2020-01-01"}))
    other = await booked.json()
    links = other["join_links"]
    other["physician_token"] = links["physician"].split("#", 1)[1]
    other["guardian_token"] = links["guardian"].split("#", 1)[1]
    consult_id, secret = consult["consult"]["id"], api.services.settings.secret_key
    expires = clock.now() + timedelta(minutes=5)

    def credentials(of: dict) -> dict[Scheme, tuple[dict[str, str], dict[str, str]]]:
        """(headers, query) for each scheme, for the consult `of`."""
        cid = of["consult"]["id"]
        capture = issue_capture_token(secret, consult_id=cid, request_id="r", expires_at=expires)
        grant, _ = issue_grant(secret, cid, "audrey", clock.now())
        return {"admin": (api.admin, {}), "auditor": (api.auditor, {}),
                "physician": (api.bearer(of["physician_token"]), {}),
                "guardian": (api.bearer(of["guardian_token"]), {}),
                "capture": (api.bearer(capture), {}), "replay_grant": ({}, {"grant": grant})}

    mine, theirs = credentials(consult), credentials(other)
    refusals = await _refusals(api)

    async def call(endpoint: Endpoint, headers: dict[str, str], query: dict[str, str]):
        response = await api.client.request(endpoint.method, _url(endpoint, consult_id),
                                            headers=headers, params=query)
        return response.status, (await response.json())["code"] if response.status in (
            401, 403) else None

    async def refused(endpoint: Endpoint, why: str, status: int, code: str | None) -> None:
        nonlocal refusals
        assert (status, code) in ((401, "unauthenticated"), (403, "forbidden")), (
            _name(endpoint), why, status)
        now = await _refusals(api)
        assert now == refusals + 1, (_name(endpoint), why, "the refusal is audited once")
        refusals = now

    assert GUARDED
    for endpoint in GUARDED:
        declared = endpoint.access.schemes
        status, code = await call(endpoint, {}, {})
        assert status == 401, (_name(endpoint), "no credentials", status)
        await refused(endpoint, "no credentials", status, code)
        for scheme in SCHEMES:
            if scheme in declared:
                continue
            status, code = await call(endpoint, *mine[scheme])
            await refused(endpoint, f"a {scheme} credential", status, code)
            same_kind = not endpoint.access.capture and scheme not in ("capture",
                                                                        "replay_grant")
            if same_kind:  # a staff key or a link of a role the route does not name
                assert status == 403, (_name(endpoint), scheme, status)
        if endpoint.access.any_consult:
            continue
        for scheme in declared:
            if scheme in ("admin", "auditor"):
                continue  # staff keys are for every consult
            status, code = await call(endpoint, *theirs[scheme])
            assert status == 403, (_name(endpoint), f"another consult's {scheme}", status)
            await refused(endpoint, f"another consult's {scheme}", status, code)

    # Re-issuing the join links revokes the ones the other routes are called with: it goes last.
    for endpoint in sorted(GUARDED, key=lambda e: e.path.endswith("/join-links")):
        if endpoint.access.capture:
            continue  # a spent or unknown capture request is refused after the gate, audited
        for scheme in endpoint.access.schemes:
            status, _ = await call(endpoint, *mine[scheme])
            assert status not in (401, 403), (_name(endpoint), scheme, status)
            assert await _refusals(api) == refusals, (_name(endpoint), scheme)


async def test_public_routes_ask_for_nothing(api):
    for endpoint in ENDPOINTS:
        if endpoint.access.public and endpoint.method == "GET":
            response = await api.client.get(_url(endpoint, "x"))
            assert response.status not in (401, 403), _name(endpoint)
    assert await _refusals(api) == 0

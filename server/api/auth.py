"""Who is calling: staff by named API key (admin, auditor), participants by join token.

Every refused attempt is itself an audit entry, written in its own transaction (the request
it belongs to is failing, so nothing else would record it).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from server.api.request_services import services_of
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.config import Settings, StaffKey
from server.kernel.db import Database
from server.kernel.errors import Forbidden, ShouzhenError, Unauthenticated
from server.kernel.tokens import JoinClaims, Role, read_join_token

STAFF_ROLES = ("admin", "auditor")


@dataclass(frozen=True)
class Caller:
    actor: Actor
    join: JoinClaims | None = None  # set for physicians and guardians


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _staff_match(token: str, keys: Iterable[StaffKey]) -> StaffKey | None:
    found = None
    for key in keys:  # compare against every key: timing says nothing about which matched
        if hmac.compare_digest(token.encode(), key.key.encode()):
            found = key
    return found


def identify(settings: Settings, token: str | None, now: datetime) -> Caller:
    if token is None:
        raise Unauthenticated("send credentials as 'Authorization: Bearer <key or join token>'")
    admin = _staff_match(token, settings.admin_keys)
    if admin is not None:
        return Caller(Actor("admin", admin.name))
    auditor = _staff_match(token, settings.auditor_keys)
    if auditor is not None:
        return Caller(Actor("auditor", auditor.name))
    if token.count(".") != 2:
        raise Unauthenticated("the API key is not valid")
    claims = read_join_token(settings.secret_key, token, now=now)
    return Caller(Actor(claims.role.value, claims.subject), claims)


_CONSULT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def record_refusal(db: Database, request: web.Request, error: ShouzhenError,
                         consult_id: str | None, actor: Actor | None = None) -> None:
    # A refused request names whatever id the caller typed: only a well-formed one is filed
    # under a consult; anything else is kept (shortened) in the details, never dropped.
    well_formed = consult_id if consult_id and _CONSULT_ID.match(consult_id) else None
    async with db.transaction() as session:
        await audit_log.append(
            session, actor or Actor("anonymous", request.remote or "unknown"), "access.refused",
            consult_id=well_formed,
            details={"method": request.method, "path": request.path[:300],
                     "status": error.status, "reason": error.detail,
                     "remote": request.remote or "unknown",
                     **({"given_consult_id": consult_id[:80]}
                        if consult_id and not well_formed else {})})


async def authorize(request: web.Request, *, staff: tuple[str, ...] = (),
                    participants: tuple[Role, ...] = (), consult_id: str | None = None) -> Caller:
    """The caller, if they may act here: a staff role in `staff`, or a participant in
    `participants` whose token is for `consult_id`. Refusals are audited, then raised."""
    services = services_of(request)
    caller: Caller | None = None
    try:
        caller = identify(services.settings, bearer_token(request), services.clock.now())
        if caller.join is None:
            if caller.actor.role not in staff:
                raise Forbidden(f"the {caller.actor.role} role may not do this")
        else:
            if caller.join.role not in participants:
                raise Forbidden(f"a {caller.join.role.value}'s link may not do this")
            if consult_id is None or caller.join.consult_id != consult_id:
                raise Forbidden("this link belongs to another consult")
        return caller
    except ShouzhenError as error:
        await record_refusal(services.db, request, error, consult_id,
                             caller.actor if caller is not None else None)
        raise

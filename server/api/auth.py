"""Who is calling: staff by named API key (admin, auditor), participants by join token,
the guardian's device by capture token, an auditor's media element by playback grant.

The registry (server/api/routes.py) lets a request reach its handler only through
:func:`admit`, with the access its route declares (server/api/access.py); handlers get the
:class:`Caller` and never check credentials themselves. Every refused attempt is itself an
audit entry, written in its own transaction (the request it belongs to is failing, so
nothing else would record it), through the refusal ledger (server/kernel/refusal_ledger.py):
a flood of one kind is counted into one entry per window instead of one per request.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from server.api.access import CONSULT_PARAM, Access
from server.api.replay_grants import ReplayGrant, read_grant
from server.api.request_services import Services, services_of
from server.kernel.audit_log import Actor
from server.kernel.config import Settings, StaffKey
from server.kernel.errors import Forbidden, ShouzhenError, Unauthenticated
from server.kernel.refusal_ledger import Refusal, RefusalLedger
from server.kernel.tokens import (
    CaptureClaims,
    JoinClaims,
    Role,
    read_capture_token,
    read_join_token,
)


@dataclass(frozen=True)
class Caller:
    """The authenticated principal a handler is handed."""

    actor: Actor
    join: JoinClaims | None = None  # set for physicians and guardians
    capture: CaptureClaims | None = None  # set for the device's capture upload
    grant: ReplayGrant | None = None  # set when an auditor's playback grant was the credential


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


REFUSALS = web.AppKey("refusal_ledger", RefusalLedger)


async def record_refusal(request: web.Request, error: ShouzhenError,
                         consult_id: str | None, actor: Actor | None = None) -> None:
    # A refused request names whatever id the caller typed: only a well-formed one is filed
    # under a consult; anything else is kept (shortened) in the details, never dropped.
    well_formed = consult_id if consult_id and _CONSULT_ID.match(consult_id) else None
    remote = request.remote or "unknown"
    route = request.match_info.route.resource
    template = route.canonical if route is not None else request.path[:80]
    await request.app[REFUSALS].record(Refusal.of(
        "access.refused", actor or Actor("anonymous", remote),
        target=f"{request.method} {template}", reason=error.code, source=remote,
        consult_id=well_formed,
        details={"method": request.method, "path": request.path[:300],
                 "status": error.status, "reason": error.detail[:300], "remote": remote,
                 **({"given_consult_id": consult_id[:80]}
                    if consult_id and not well_formed else {})}))


async def admit(request: web.Request, access: Access) -> Caller:
    """The caller, if `access` lets them in here; a refusal is audited, then raised."""
    services = services_of(request)
    consult_id = request.match_info.get(CONSULT_PARAM)
    now = services.clock.now()
    caller: Caller | None = None
    try:
        if access.capture:
            return _capture_holder(services.settings, bearer_token(request), consult_id, now)
        grant = request.query.get("grant") if access.replay_grant else None
        if grant is not None:
            return _grant_holder(services.settings, grant, consult_id, now)
        caller = identify(services.settings, bearer_token(request), now)
        if caller.join is None:
            if caller.actor.role not in access.staff:
                raise Forbidden(f"the {caller.actor.role} role may not do this")
        else:
            if caller.join.role not in access.participants:
                raise Forbidden(f"a {caller.join.role.value}'s link may not do this")
            if not access.any_consult and caller.join.consult_id != consult_id:
                raise Forbidden("this link belongs to another consult")
            await admit_participant(services, caller.join)
        return caller
    except ShouzhenError as error:
        await record_refusal(request, error, consult_id,
                             caller.actor if caller is not None else None)
        raise


async def admit_participant(services: Services, join: JoinClaims) -> None:
    """A link is honoured only while it is the consult's current one (re-issuing revokes the
    previous), and a physician's only while the physician is whitelisted: both re-checked
    at every request, so a suspension or a re-issue bites at the next click."""
    await services.consults.require_current_link(join)
    if join.role is Role.PHYSICIAN:
        await services.standing.require_active(join.subject)


def _capture_holder(settings: Settings, token: str | None, consult_id: str | None,
                    now: datetime) -> Caller:
    if token is None:
        raise Unauthenticated("send the capture token as 'Authorization: Bearer <token>'")
    claims = read_capture_token(settings.secret_key, token, now=now)
    if claims.consult_id != consult_id:
        raise Forbidden("this capture token belongs to another consult")
    return Caller(Actor("guardian", claims.consult_id), capture=claims)


def _grant_holder(settings: Settings, token: str, consult_id: str | None,
                  now: datetime) -> Caller:
    # The grant rides in the query string, which the audit log never records (it keeps the
    # path only).
    grant = read_grant(settings.secret_key, token, now)
    if grant.consult_id != consult_id:
        raise Forbidden("this replay grant belongs to another consult")
    if grant.auditor not in {key.name for key in settings.auditor_keys}:
        raise Forbidden("the auditor of this grant no longer has a key")
    return Caller(Actor("auditor", grant.auditor), grant=grant)


CallerHandler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def enforced(access: Access, handler: CallerHandler) -> Callable[
        [web.Request], Awaitable[web.StreamResponse]]:
    """`handler` behind the access its route declares, handed the admitted caller."""
    async def admitted(request: web.Request) -> web.StreamResponse:
        caller = await admit(request, access)
        if not access.capture:
            return await handler(request, caller)
        # A capture token is spent by one upload: any refused upload (too large, not an
        # image, already used) is a refused use of the token, audited like a bad token.
        try:
            return await handler(request, caller)
        except ShouzhenError as error:
            await record_refusal(request, error,
                                 request.match_info.get(CONSULT_PARAM))
            raise

    return admitted

"""Playback grants: an auditor's short-lived, signed permission to fetch one consult's
recordings and export, carried in ``?grant=`` by media elements and downloads (they cannot
send an Authorization header). Why they exist is told in server/api/replay_api.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from server.kernel.errors import Forbidden, Unauthenticated

GRANT_AUDIENCE = "shouzhen/replay"
GRANT_LIFETIME = timedelta(hours=2)


@dataclass(frozen=True)
class ReplayGrant:
    """An auditor's short-lived permission to fetch one consult's recordings and export."""

    consult_id: str
    auditor: str
    grant_id: str
    expires_at: datetime


def issue_grant(secret: str, consult_id: str, auditor: str, now: datetime) -> tuple[str,
                                                                                   ReplayGrant]:
    grant = ReplayGrant(consult_id, auditor, uuid.uuid4().hex, now + GRANT_LIFETIME)
    token = jwt.encode({"cid": consult_id, "sub": auditor, "jti": grant.grant_id,
                        "aud": GRANT_AUDIENCE, "iss": "shouzhen", "iat": int(now.timestamp()),
                        "exp": int(grant.expires_at.timestamp())}, secret, algorithm="HS256")
    return token, grant


def read_grant(secret: str, token: str, now: datetime) -> ReplayGrant:
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], audience=GRANT_AUDIENCE,
                             issuer="shouzhen", options={
                                 "require": ["exp", "iat", "aud", "iss", "jti", "sub", "cid"],
                                 "verify_exp": False})
    except jwt.InvalidAudienceError:
        raise Forbidden("this token is not a replay grant") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the replay grant is invalid or has been tampered with") from None
    if payload["exp"] <= now.timestamp():
        raise Unauthenticated("the replay grant has expired: open the consult again")
    return ReplayGrant(str(payload["cid"]), str(payload["sub"]), str(payload["jti"]),
                       datetime.fromtimestamp(payload["exp"], now.tzinfo))

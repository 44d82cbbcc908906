"""Signed, single-purpose tokens.

A join token is scoped to one consult and one role and expires with the consult's window;
its audience says what it is for, so a join token cannot be replayed as a capture token and a
guardian's token can never act as a physician's (the role is inside the signature).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import jwt

from server.kernel.errors import Forbidden, Unauthenticated

ALGORITHM = "HS256"
ISSUER = "shouzhen"


class Purpose(StrEnum):
    JOIN = "shouzhen/join"
    CAPTURE = "shouzhen/capture"


class Role(StrEnum):
    PHYSICIAN = "physician"
    GUARDIAN = "guardian"


@dataclass(frozen=True)
class JoinClaims:
    consult_id: str
    role: Role
    subject: str  # physician id, or the consult id for the guardian
    expires_at: datetime
    token_id: str
    # The consult's link version it was issued under: re-issuing a consult's links bumps the
    # version and the older links stop working (checked against the database at every use).
    version: int = 0


@dataclass(frozen=True)
class CaptureClaims:
    consult_id: str
    request_id: str
    expires_at: datetime
    token_id: str


def _encode(secret: str, purpose: Purpose, claims: dict[str, Any], expires_at: datetime) -> str:
    now = datetime.now(UTC)
    payload = {
        **claims,
        "iss": ISSUER,
        "aud": purpose.value,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def _decode(secret: str, purpose: Purpose, token: str, now: datetime | None) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=purpose.value, issuer=ISSUER,
            options={"require": ["exp", "iat", "aud", "iss", "jti"], "verify_exp": now is None},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the link has expired: the consult's time window is over") from None
    except jwt.InvalidAudienceError:
        raise Forbidden("this token is not valid for this purpose") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is invalid or has been tampered with") from None
    if now is not None and payload["exp"] <= now.timestamp():
        raise Unauthenticated("the link has expired: the consult's time window is over")
    return payload


def issue_join_token(
    secret: str, *, consult_id: str, role: Role, subject: str, expires_at: datetime,
    version: int = 0,
) -> str:
    return _encode(secret, Purpose.JOIN, {"cid": consult_id, "role": role.value, "sub": subject,
                                          "ver": version}, expires_at)


def read_join_token(secret: str, token: str, *, now: datetime | None = None) -> JoinClaims:
    payload = _decode(secret, Purpose.JOIN, token, now)
    try:
        role = Role(payload["role"])
        # Links issued before versions existed carry none: version 0, the column's default.
        version = payload.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("the link version is not a whole number")
        return JoinClaims(
            consult_id=str(payload["cid"]), role=role, subject=str(payload["sub"]),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC), token_id=str(payload["jti"]),
            version=version,
        )
    except (KeyError, ValueError):
        raise Unauthenticated("the token does not name a consult and a role") from None


def issue_capture_token(
    secret: str, *, consult_id: str, request_id: str, expires_at: datetime
) -> str:
    return _encode(secret, Purpose.CAPTURE, {"cid": consult_id, "rid": request_id}, expires_at)


def read_capture_token(secret: str, token: str, *, now: datetime | None = None) -> CaptureClaims:
    payload = _decode(secret, Purpose.CAPTURE, token, now)
    try:
        return CaptureClaims(
            consult_id=str(payload["cid"]), request_id=str(payload["rid"]),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC), token_id=str(payload["jti"]),
        )
    except KeyError:
        raise Unauthenticated("the capture token does not name a request") from None

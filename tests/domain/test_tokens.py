from datetime import UTC, datetime, timedelta

import jwt
import pytest

from server.kernel.errors import Forbidden, Unauthenticated
from server.kernel.tokens import (
    Role,
    issue_capture_token,
    issue_join_token,
    read_capture_token,
    read_join_token,
)

SECRET = "s" * 40
LATER = datetime.now(UTC) + timedelta(hours=1)


def token(role=Role.GUARDIAN, expires_at=LATER):
    return issue_join_token(SECRET, consult_id="c1", role=role, subject="c1",
                            expires_at=expires_at)


def test_a_join_token_names_its_consult_and_role():
    claims = read_join_token(SECRET, token())
    assert (claims.consult_id, claims.role) == ("c1", Role.GUARDIAN)


def test_a_token_expires_with_the_consult_window():
    t = token(expires_at=datetime.now(UTC) + timedelta(minutes=5))
    read_join_token(SECRET, t)
    with pytest.raises(Unauthenticated, match="expired"):
        read_join_token(SECRET, t, now=datetime.now(UTC) + timedelta(minutes=6))


def test_a_guardian_cannot_rewrite_their_role():
    header, _payload, signature = token().split(".")
    forged_payload = jwt.encode({**jwt.decode(token(), options={"verify_signature": False}),
                                 "role": "physician"}, "o" * 40, algorithm="HS256").split(".")[1]
    with pytest.raises(Unauthenticated, match="tampered"):
        read_join_token(SECRET, f"{header}.{forged_payload}.{signature}")


def test_a_join_token_is_not_a_capture_token_and_vice_versa():
    with pytest.raises(Forbidden):
        read_capture_token(SECRET, token())
    capture = issue_capture_token(SECRET, consult_id="c1", request_id="r1", expires_at=LATER)
    with pytest.raises(Forbidden):
        read_join_token(SECRET, capture)
    assert read_capture_token(SECRET, capture).request_id == "r1"


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(Unauthenticated):
        read_join_token("x" * 40, token())

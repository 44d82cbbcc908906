"""Domain errors: one type per thing that can go wrong, each knowing its HTTP status.

The HTTP layer turns any `ShouzhenError` into an RFC 9457 problem document in one
place (`server/api/problems.py`); Socket.IO handlers turn them into error acks. Domain code
raises these and never builds responses itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a JSON-pointer-like path and what is wrong with it."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ShouzhenError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(ShouzhenError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        summary = detail or "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(summary, errors=[e.to_dict() for e in errors])
        self.errors = errors


class MalformedRequest(ShouzhenError):
    status = 400
    code = "malformed_request"
    title = "Malformed request"


class PayloadTooLarge(ShouzhenError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class Unauthenticated(ShouzhenError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(ShouzhenError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(ShouzhenError):
    status = 404
    code = "not_found"
    title = "Not found"


class ConsultNotFound(NotFound):
    code = "consult_not_found"
    title = "Consult not found"


class PhysicianNotFound(NotFound):
    code = "physician_not_found"
    title = "Physician not found"


class Conflict(ShouzhenError):
    status = 409
    code = "conflict"
    title = "Conflict"


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"
    title = "Consult state does not allow this"


class ConsultClosed(Conflict):
    code = "consult_closed"
    title = "The consult is closed"


class RecordingNoticeRequired(Conflict):
    code = "recording_notice_required"
    title = "The recording notice has not been accepted"


class GuardianPresenceRequired(Conflict):
    code = "guardian_presence_required"
    title = "Guardian presence has not been confirmed"


class PhysicianNotWhitelisted(Conflict):
    code = "physician_not_whitelisted"
    title = "Physician is not whitelisted for first-visit consults"

    def __init__(self, detail: str, reasons: list[str]) -> None:
        super().__init__(detail, reasons=reasons)
        self.reasons = reasons


class SpecialtyNotInPilot(ShouzhenError):
    status = 422
    code = "specialty_not_in_pilot"
    title = "Specialty is not part of the first-visit pilot"


class ServiceUnavailable(ShouzhenError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"

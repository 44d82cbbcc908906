"""Acknowledgements: every event handler answers `{ok: true, ...}` or
`{ok: false, error: {code, message}}`, and no exception leaves a handler."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from media.consult_media import ConsultClosed as MediaClosed
from media.errors import InvalidCandidate, InvalidOffer, MediaError, NoPeerYet, UnsupportedCodecs
from server.kernel.errors import InvalidInput, ShouzhenError
from server.kernel.validation import field_errors

log = logging.getLogger("shouzhen.signaling")
Ack = dict[str, Any]
M = TypeVar("M", bound=BaseModel)

MEDIA_CODES: list[tuple[type[MediaError], str]] = [
    (InvalidOffer, "invalid_sdp"), (UnsupportedCodecs, "unsupported_codecs"),
    (NoPeerYet, "no_offer_yet"), (InvalidCandidate, "invalid_payload"),
    (MediaClosed, "consult_closed"),
]


class EventRefused(Exception):
    """A refusal decided in signaling itself (wrong role, rate limit, bad payload)."""

    def __init__(self, code: str, message: str,
                 errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []


def ok(**result: Any) -> Ack:
    return {"ok": True, **result}


def refused(code: str, message: str, errors: list[dict[str, str]] | None = None) -> Ack:
    """`errors` lists each bad field ({field, message}), as the HTTP API's 422 does."""
    error: dict[str, Any] = {"code": code, "message": message}
    if errors:
        error["errors"] = errors
    return {"ok": False, "error": error}


def parse(model: type[M], data: Any) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EventRefused("invalid_payload", "the payload must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = field_errors(error)
        detail = "; ".join(f"{e.field}: {e.message}" for e in fields)
        raise EventRefused("invalid_payload", detail, [e.to_dict() for e in fields]) from None


def error_ack(error: BaseException) -> Ack:
    if isinstance(error, EventRefused):
        return refused(error.code, error.message, error.errors)
    if isinstance(error, InvalidInput):
        return refused(error.code, error.detail, [e.to_dict() for e in error.errors])
    if isinstance(error, ShouzhenError):
        return refused(error.code, error.detail)
    if isinstance(error, MediaError):
        code = next((c for t, c in MEDIA_CODES if isinstance(error, t)), "media_unavailable")
        return refused(code, str(error))
    return refused("internal_error", "the server could not handle this event; it was logged")


Handler = Callable[..., Awaitable[Ack]]


def acknowledged(event: str) -> Callable[[Handler], Handler]:
    """Wrap a namespace handler: `self.admit_event(sid)` first (who may still act at all —
    here, so no event can forget it), then the handler (an event of more than one argument is
    refused instead, after `self.spend_event(sid)` charged its rate limit); errors become
    error acks and are reported to `self.on_refused(sid, event, ack, error)` (which audits
    them); nothing escapes."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(self: Any, sid: str, data: Any = None, *extra: Any) -> Ack:
            # Socket.IO lets a client send any number of arguments; python-socketio would
            # call the handler with all of them, and a TypeError there escaped every guard
            # (no ack, a traceback per event). One payload object, or a refusal like any other.
            try:
                await self.admit_event(sid)
                if extra:
                    self.spend_event(sid)
                    raise EventRefused("invalid_payload", f"send one payload object, not "
                                       f"{1 + len(extra)} arguments")
                return await handler(self, sid, data)
            except Exception as error:
                if not isinstance(error, (EventRefused, ShouzhenError, MediaError)):
                    log.exception("event handler failed", extra={"event": event, "sid": sid})
                ack = error_ack(error)
                try:
                    await self.on_refused(sid, event, ack)
                except Exception:
                    log.exception("could not record a refused event", extra={"event": event})
                return ack

        return run

    return wrap

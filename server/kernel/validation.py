"""Parsing request bodies into typed models, with one error shape for every failure.

Models are validated in pydantic's strict JSON mode: a number sent as a string is refused
rather than guessed at, which matters when the number is a child's weight.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from server.kernel.errors import FieldError, InvalidInput, MalformedRequest

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True,
                              frozen=True)


def field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    found: list[FieldError] = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required"
        found.append(FieldError(f"{prefix}{path}", message))
    return found


def parse_json(model: type[M], raw: bytes | str) -> M:
    """Parse a JSON body into `model`: MalformedRequest if it is not JSON at all,
    InvalidInput listing every bad field otherwise."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise MalformedRequest("the request body is not valid JSON") from None
        if any(item["type"] == "model_type" and not item["loc"] for item in error.errors()):
            raise InvalidInput([FieldError("body", "expected a JSON object")]) from None
        raise InvalidInput(field_errors(error)) from None


_WHOLE_NUMBER = re.compile(r"^[0-9]{1,18}$")  # ASCII only: str.isdigit() also takes '²', '١'


def whole_number(text: str, name: str, least: int, most: int) -> int:
    """A query or path number in [least, most]: MalformedRequest otherwise. Digits are checked
    before int() sees them, so neither 5,000 digits nor a superscript reaches the database."""
    if not _WHOLE_NUMBER.match(text) or not least <= int(text) <= most:
        raise MalformedRequest(f"{name} must be a whole number from {least} to {most}")
    return int(text)


_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
FIRST_CALENDAR_DAY = date(1900, 1, 1)
LAST_CALENDAR_DAY = date(2999, 12, 31)
"""The days a date filter may name: a day ± one still converts to any time zone and fits
every database's timestamp type (year 1 or 9999 overflowed on the way)."""


def calendar_day(text: str, name: str) -> date:
    """A YYYY-MM-DD day of a filter or report period; MalformedRequest naming `name` if it is
    not one or lies outside FIRST_CALENDAR_DAY..LAST_CALENDAR_DAY."""
    try:
        if not _DAY.match(text):  # fromisoformat also takes 20261120, 2026-W47-5, …
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise MalformedRequest(f"{name} must be a date as YYYY-MM-DD, not {text[:40]!r}") \
            from None
    if not FIRST_CALENDAR_DAY <= day <= LAST_CALENDAR_DAY:
        raise MalformedRequest(f"{name} must lie between {FIRST_CALENDAR_DAY} and "
                               f"{LAST_CALENDAR_DAY}")
    return day

"""Parsing request bodies into typed models, with one error shape for every failure.

Models are validated in pydantic's strict JSON mode: a number sent as a string is refused
rather than guessed at, which matters when the number is a child's weight.
"""

from __future__ import annotations

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

"""Typed input errors: which field, why, and a stable code the UI can translate."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "required",  # missing value
    "invalid",  # wrong type / unknown value
    "before_birth",  # measurement dated before the birth date
    "in_future",  # date after ``today``
    "not_positive",  # weight / length / head circumference <= 0
    "looks_like_metres",  # e.g. height 1.1 for a 5-year-old
    "looks_like_grams",  # e.g. weight 3500 for a newborn
    "looks_like_millimetres",
    "out_of_range",  # physically impossible value
    "looks_like_jin",  # a weight in 斤 (0.5 kg), asked about against the child's age
    "implausible_for_age",  # beyond the WHO's flags for biologically implausible values
]


class GrowthInputError(ValueError):
    """An impossible or missing input.  ``field`` is a path such as
    ``measurements[2].height_cm``; ``message`` says what is wrong with it."""

    def __init__(self, field: str, message: str, code: ErrorCode = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code: ErrorCode = code

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}

"""What a booking carries (child, guardian, physician, specialty, window) and its rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from server.clinical.whitelist import add_years_on_or_before
from server.kernel.errors import FieldError, InvalidInput
from server.kernel.validation import StrictModel

MAX_CHILD_AGE_YEARS = 18

Name = Annotated[str, StringConstraints(min_length=1, max_length=50)]
# Mainland mobile numbers, optionally with +86; guardians are reached by SMS about referrals.
Phone = Annotated[str, StringConstraints(pattern=r"^(\+86)?1[3-9]\d{9}$")]


class ChildIn(StrictModel):
    name: Name
    sex: Literal["male", "female"]
    birth_date: date
    patient_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="The hospital's patient id (MRN): links a child's visits.")


class GuardianIn(StrictModel):
    name: Name
    relationship: Literal["mother", "father", "grandmother", "grandfather",
                          "legal_guardian", "other_relative"]
    phone: Phone


class BookingIn(StrictModel):
    physician_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    specialty: str = Field(description="growth_development | nutrition | dermatology")
    child: ChildIn
    guardian: GuardianIn
    scheduled_start: AwareDatetime
    window_minutes: int | None = Field(default=None, ge=15, le=240)


class CancelIn(StrictModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


def age_in_whole_years(birth_date: date, on: date) -> int:
    years = on.year - birth_date.year
    return years - 1 if add_years_on_or_before(birth_date, years) > on else years


def check_booking(booking: BookingIn, now: datetime, default_window_minutes: int) -> datetime:
    """Rules that need the clock; returns the end of the consult's window."""
    errors: list[FieldError] = []
    start_day = booking.scheduled_start.astimezone(UTC).date()
    if booking.child.birth_date > now.date():
        errors.append(FieldError("child.birth_date", "is in the future"))
    elif age_in_whole_years(booking.child.birth_date, max(start_day, now.date())) >= (
        MAX_CHILD_AGE_YEARS
    ):
        errors.append(FieldError(
            "child.birth_date", "the child is 18 or older: the paediatric first-visit pilot "
            "covers children under 18"))
    window = timedelta(minutes=booking.window_minutes or default_window_minutes)
    window_end = booking.scheduled_start.astimezone(UTC) + window
    if window_end <= now:
        errors.append(FieldError("scheduled_start", "the consult window is already over"))
    if booking.scheduled_start - now > timedelta(days=90):
        errors.append(FieldError("scheduled_start", "more than 90 days ahead"))
    if errors:
        raise InvalidInput(errors)
    return window_end

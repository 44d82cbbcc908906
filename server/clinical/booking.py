"""What a booking carries (child, guardian, physician, specialty, window) and its rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field, StringConstraints

from server.clinical.whitelist import add_years_on_or_before
from server.kernel.clock import calendar_date
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


@dataclass(frozen=True)
class PilotPeriod:
    """The days (hospital calendar, both included) on which the pilot allows consults;
    None: open on that side."""

    first_day: date | None = None
    last_day: date | None = None

    def refusal(self, day: date) -> str | None:
        if self.first_day is not None and day < self.first_day:
            return (f"the pilot starts on {self.first_day.isoformat()}: no consult can be held "
                    "before it")
        if self.last_day is not None and day > self.last_day:
            return (f"the pilot ended on {self.last_day.isoformat()}: no consult can be held "
                    "after it")
        return None


def age_in_whole_years(birth_date: date, on: date) -> int:
    years = on.year - birth_date.year
    return years - 1 if add_years_on_or_before(birth_date, years) > on else years


def check_booking(booking: BookingIn, now: datetime, default_window_minutes: int, *,
                  zone: ZoneInfo, pilot: PilotPeriod) -> datetime:
    """Rules that need the clock; returns the end of the consult's window. Days are the
    hospital's (`zone`): a birthday begins at midnight in Beijing, not at 08:00."""
    errors: list[FieldError] = []
    today = calendar_date(now, zone)
    start_day = calendar_date(booking.scheduled_start, zone)
    if booking.child.birth_date > today:
        errors.append(FieldError("child.birth_date", "is in the future"))
    elif age_in_whole_years(booking.child.birth_date, max(start_day, today)) >= (
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
    outside_pilot = pilot.refusal(start_day)
    if outside_pilot is not None:
        errors.append(FieldError("scheduled_start", outside_pilot))
    if errors:
        raise InvalidInput(errors)
    return window_end

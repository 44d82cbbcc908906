"""Who may hold a first-visit paediatric consult: eligibility from credentials, plus the
hospital's administrative whitelist status.

Pure rules, no I/O. Eligibility is computed *as of a date* from facts the hospital keeps
(never stored as a flag), so a physician becomes eligible on the day they reach three years
of independent practice without anyone remembering to tick a box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from server.clinical.specialties import Specialty
from server.kernel.errors import Conflict

MIN_YEARS_INDEPENDENT_PRACTICE = 3
MIN_YEARS_INTERNET_CONSULTS = 1


class Title(StrEnum):
    """Professional titles in rank order (住院医师 < 主治医师 < 副主任医师 < 主任医师)."""

    RESIDENT = "resident"
    ATTENDING = "attending"
    ASSOCIATE_CHIEF = "associate_chief"
    CHIEF = "chief"

    @property
    def rank(self) -> int:
        return _TITLE_ORDER.index(self)


_TITLE_ORDER = [Title.RESIDENT, Title.ATTENDING, Title.ASSOCIATE_CHIEF, Title.CHIEF]


class WhitelistStatus(StrEnum):
    NOT_LISTED = "not_listed"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


# Revocation is final: a revoked physician must be listed anew under a new record after
# the hospital's own review, so history is never rewritten.
ALLOWED_STATUS_CHANGES: dict[WhitelistStatus, frozenset[WhitelistStatus]] = {
    WhitelistStatus.NOT_LISTED: frozenset({WhitelistStatus.ACTIVE}),
    WhitelistStatus.ACTIVE: frozenset({WhitelistStatus.SUSPENDED, WhitelistStatus.REVOKED}),
    WhitelistStatus.SUSPENDED: frozenset({WhitelistStatus.ACTIVE, WhitelistStatus.REVOKED}),
    WhitelistStatus.REVOKED: frozenset(),
}


@dataclass(frozen=True)
class Credentials:
    licence_number: str
    title: Title
    independent_practice_since: date
    internet_consults_since: date | None
    training_exam_passed_on: date | None
    specialties: frozenset[Specialty] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[str, ...]  # empty when eligible; codes, stable for clients


def add_years(day: date, years: int) -> date:
    """`day` plus whole years; 29 February lands on 28 February in common years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def eligibility(credentials: Credentials, as_of: date) -> Eligibility:
    reasons: list[str] = []
    if add_years(credentials.independent_practice_since, MIN_YEARS_INDEPENDENT_PRACTICE) > as_of:
        reasons.append("independent_practice_under_3_years")
    if credentials.title.rank < Title.ATTENDING.rank:
        reasons.append("title_below_attending")
    if credentials.internet_consults_since is None or (
        add_years(credentials.internet_consults_since, MIN_YEARS_INTERNET_CONSULTS) > as_of
    ):
        reasons.append("internet_consults_under_1_year")
    if credentials.training_exam_passed_on is None or credentials.training_exam_passed_on > as_of:
        reasons.append("training_exam_not_passed")
    if not credentials.specialties:
        reasons.append("no_pilot_specialty")
    return Eligibility(eligible=not reasons, reasons=tuple(reasons))


REASON_TEXT: dict[str, str] = {
    "independent_practice_under_3_years": "fewer than 3 years of independent clinical practice",
    "title_below_attending": "title below attending physician",
    "internet_consults_under_1_year": "less than 1 year of internet follow-up consults",
    "training_exam_not_passed": "first-visit training and examination not passed",
    "no_pilot_specialty": "no pilot specialty registered",
    "not_whitelisted": "not on the hospital's whitelist",
    "suspended": "suspended from the whitelist",
    "revoked": "revoked from the whitelist",
    "specialty_not_registered": "not registered for this specialty",
}


def check_status_change(current: WhitelistStatus, new: WhitelistStatus) -> None:
    if new not in ALLOWED_STATUS_CHANGES[current]:
        raise Conflict(f"whitelist status cannot change from {current} to {new}")


def bookable_reasons(
    credentials: Credentials, status: WhitelistStatus, specialty: Specialty, as_of: date
) -> list[str]:
    """Why this physician cannot take a first-visit consult in `specialty` today ([] = can)."""
    reasons = list(eligibility(credentials, as_of).reasons)
    if status is WhitelistStatus.NOT_LISTED:
        reasons.append("not_whitelisted")
    elif status is WhitelistStatus.SUSPENDED:
        reasons.append("suspended")
    elif status is WhitelistStatus.REVOKED:
        reasons.append("revoked")
    if credentials.specialties and specialty not in credentials.specialties:
        reasons.append("specialty_not_registered")
    return reasons

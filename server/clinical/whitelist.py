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
from server.kernel.errors import Conflict, FieldError

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
# the hospital's own review (a re-registration, check_re_registration), so history is never
# rewritten.
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


class Ineligibility(StrEnum):
    """Why a physician may not take a first-visit consult; the codes are stable for clients."""

    INDEPENDENT_PRACTICE_UNDER_3_YEARS = "independent_practice_under_3_years"
    TITLE_BELOW_ATTENDING = "title_below_attending"
    INTERNET_CONSULTS_UNDER_1_YEAR = "internet_consults_under_1_year"
    TRAINING_EXAM_NOT_PASSED = "training_exam_not_passed"
    NO_PILOT_SPECIALTY = "no_pilot_specialty"
    NOT_WHITELISTED = "not_whitelisted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SPECIALTY_NOT_REGISTERED = "specialty_not_registered"


# Every refusal is explained in words, Chinese first: a reason without its words here would
# turn a refusal into a 500, so the table is built by walking the enum (a missing row fails
# at import, and tests/domain/test_whitelist.py walks it too).
_REASON_WORDS: dict[Ineligibility, tuple[str, str]] = {
    Ineligibility.INDEPENDENT_PRACTICE_UNDER_3_YEARS: (
        "独立临床执业不满3年", "fewer than 3 years of independent clinical practice"),
    Ineligibility.TITLE_BELOW_ATTENDING: ("职称低于主治医师", "title below attending physician"),
    Ineligibility.INTERNET_CONSULTS_UNDER_1_YEAR: (
        "互联网复诊经历不满1年", "less than 1 year of internet follow-up consults"),
    Ineligibility.TRAINING_EXAM_NOT_PASSED: (
        "未通过首诊培训考核", "first-visit training and examination not passed"),
    Ineligibility.NO_PILOT_SPECIALTY: ("未登记试点专科", "no pilot specialty registered"),
    Ineligibility.NOT_WHITELISTED: ("不在医院白名单内", "not on the hospital's whitelist"),
    Ineligibility.SUSPENDED: ("白名单资格已暂停", "suspended from the whitelist"),
    Ineligibility.REVOKED: ("白名单资格已撤销", "revoked from the whitelist"),
    Ineligibility.SPECIALTY_NOT_REGISTERED: ("未登记该专科", "not registered for this specialty"),
}
REASON_TEXT: dict[str, str] = {reason: " ".join(_REASON_WORDS[reason]) for reason in Ineligibility}


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[str, ...]  # Ineligibility members; empty when eligible


def add_years_on_or_before(day: date, years: int) -> date:
    """`day` plus whole years; 29 February lands on 28 February in common years, before the
    anniversary (retention periods count the other way: on or after, 1 March)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def credential_order_errors(credentials: Credentials) -> list[FieldError]:
    """Dates that contradict each other. Internet follow-up consults may only be held by a
    physician in independent practice (互联网诊疗管理办法), so that experience cannot begin
    before independent practice did: such a date is a typing mistake, refused at entry."""
    internet, practice = credentials.internet_consults_since, credentials.independent_practice_since
    if internet is not None and internet < practice:
        return [FieldError("internet_consults_since", (
            f"{internet.isoformat()} is before independent practice began "
            f"({practice.isoformat()}): internet follow-up consults need independent practice"))]
    return []


def eligibility(credentials: Credentials, as_of: date) -> Eligibility:
    reasons: list[str] = []
    if add_years_on_or_before(credentials.independent_practice_since,
                              MIN_YEARS_INDEPENDENT_PRACTICE) > as_of:
        reasons.append(Ineligibility.INDEPENDENT_PRACTICE_UNDER_3_YEARS)
    if credentials.title.rank < Title.ATTENDING.rank:
        reasons.append(Ineligibility.TITLE_BELOW_ATTENDING)
    # A record stored before the order was checked counts its internet experience from
    # independent practice at the earliest.
    if credentials.internet_consults_since is None or (
        add_years_on_or_before(max(credentials.internet_consults_since,
                                   credentials.independent_practice_since),
                               MIN_YEARS_INTERNET_CONSULTS) > as_of
    ):
        reasons.append(Ineligibility.INTERNET_CONSULTS_UNDER_1_YEAR)
    if credentials.training_exam_passed_on is None or credentials.training_exam_passed_on > as_of:
        reasons.append(Ineligibility.TRAINING_EXAM_NOT_PASSED)
    if not credentials.specialties:
        reasons.append(Ineligibility.NO_PILOT_SPECIALTY)
    return Eligibility(eligible=not reasons, reasons=tuple(reasons))


def check_status_change(current: WhitelistStatus, new: WhitelistStatus) -> None:
    if new not in ALLOWED_STATUS_CHANGES[current]:
        raise Conflict(f"whitelist status cannot change from {current} to {new}")


def standing_reasons(credentials: Credentials, status: WhitelistStatus,
                     as_of: date) -> list[str]:
    """Why this physician may not act in a first-visit consult today, whatever its specialty
    ([] = may): Ineligibility members. Asked at every physician action, not only at booking."""
    reasons = list(eligibility(credentials, as_of).reasons)
    if status is WhitelistStatus.NOT_LISTED:
        reasons.append(Ineligibility.NOT_WHITELISTED)
    elif status is WhitelistStatus.SUSPENDED:
        reasons.append(Ineligibility.SUSPENDED)
    elif status is WhitelistStatus.REVOKED:
        reasons.append(Ineligibility.REVOKED)
    return reasons


def check_re_registration(status: WhitelistStatus, superseded: bool) -> None:
    """Only a revoked record, once, is superseded by a new record after a new review: a
    suspended physician is reinstated instead, and a record in force needs no new one."""
    if superseded:
        raise Conflict("this record is already superseded by a re-registration")
    if status is not WhitelistStatus.REVOKED:
        raise Conflict(f"only a revoked record is superseded by a re-registration; this one "
                       f"is {status} (a suspended physician is reinstated)")


def bookable_reasons(
    credentials: Credentials, status: WhitelistStatus, specialty: Specialty, as_of: date
) -> list[str]:
    """Why this physician cannot take a first-visit consult in `specialty` today ([] = can):
    Ineligibility members."""
    reasons = standing_reasons(credentials, status, as_of)
    if credentials.specialties and specialty not in credentials.specialties:
        reasons.append(Ineligibility.SPECIALTY_NOT_REGISTERED)
    return reasons

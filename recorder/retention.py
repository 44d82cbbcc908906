"""How long each stored artefact must be kept, and when it may be purged.

Pure functions over dataclasses: no clock, no I/O. The caller passes `now`.

Two retention classes, both legal minimums that configuration can lengthen but
never shorten:

* `process_record` — audio/video recordings and chat: ≥ 3 years from the end of
  the consult that produced them.
* `medical_record` — intake, notes, photos, outcome, referral: ≥ 15 years from
  the child's LAST visit, so every later visit extends the whole record.

Counting follows the PRC Civil Code (arts. 201–203): the day of the event is not
counted, a period in years ends on the corresponding day of the final year, and
the last day runs until 24:00. Purging is therefore allowed from 00:00 on the day
after the anniversary, in the hospital's time zone (UTC+8 by default). A 29
February anchor has no anniversary in a common year; we take 1 March, the later
of the two readings, so nothing is ever purged a day early.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


class RetentionClass(StrEnum):
    PROCESS_RECORD = "process_record"
    MEDICAL_RECORD = "medical_record"


LEGAL_MINIMUM_YEARS: dict[RetentionClass, int] = {
    RetentionClass.PROCESS_RECORD: 3,
    RetentionClass.MEDICAL_RECORD: 15,
}


class NaiveDatetimeError(ValueError):
    """A retention date without a time zone is ambiguous by up to a day."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Retention periods in years, floored at the legal minimums.

    `RetentionPolicy(process_record_years=1)` keeps process records 3 years;
    `raised_to_minimum` names what was raised so start-up can log a warning.
    """

    process_record_years: int = LEGAL_MINIMUM_YEARS[RetentionClass.PROCESS_RECORD]
    medical_record_years: int = LEGAL_MINIMUM_YEARS[RetentionClass.MEDICAL_RECORD]
    time_zone: tzinfo = CHINA_STANDARD_TIME
    raised_to_minimum: tuple[RetentionClass, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        raised: list[RetentionClass] = []
        for retention_class, attribute in (
            (RetentionClass.PROCESS_RECORD, "process_record_years"),
            (RetentionClass.MEDICAL_RECORD, "medical_record_years"),
        ):
            minimum = LEGAL_MINIMUM_YEARS[retention_class]
            if getattr(self, attribute) < minimum:
                object.__setattr__(self, attribute, minimum)
                raised.append(retention_class)
        object.__setattr__(self, "raised_to_minimum", tuple(raised))

    def years(self, retention_class: RetentionClass) -> int:
        if retention_class is RetentionClass.PROCESS_RECORD:
            return self.process_record_years
        return self.medical_record_years


DEFAULT_POLICY = RetentionPolicy()


@dataclass(frozen=True, slots=True)
class RetainedArtefact:
    """What retention needs to know about one stored artefact.

    `recorded_at`: when the artefact came into being (end of the consult for a
    recording). `child_last_visit_at`: the child's most recent visit as known
    when the question is asked; it only matters for medical records.
    """

    key: str
    retention_class: RetentionClass
    recorded_at: datetime
    child_last_visit_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HoldPeriod:
    """When a legal hold was open: the purge evidence check asks whether a purge fell inside."""

    set_at: datetime
    cleared_at: datetime | None

    def open_at(self, moment: datetime) -> bool:
        return self.set_at <= moment and (self.cleared_at is None or moment < self.cleared_at)


@dataclass(frozen=True, slots=True)
class PurgeDecision:
    purgeable: bool
    reason: str
    expires_at: datetime


def add_years_on_or_after(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February → 1 March in a common year (the
    later reading, so a period never ends early)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return date(day.year + years, 3, 1)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(f"{name} must carry a time zone: {moment!r}")


def retention_anchor(artefact: RetainedArtefact) -> datetime:
    """The moment the retention period counts from."""
    _require_aware(artefact.recorded_at, "recorded_at")
    if artefact.retention_class is RetentionClass.PROCESS_RECORD:
        return artefact.recorded_at
    last_visit = artefact.child_last_visit_at
    if last_visit is None:
        return artefact.recorded_at
    _require_aware(last_visit, "child_last_visit_at")
    # A "last visit" earlier than the record itself is stale data: never shorten.
    return max(artefact.recorded_at, last_visit)


def expires_at(artefact: RetainedArtefact, policy: RetentionPolicy = DEFAULT_POLICY) -> datetime:
    """First instant at which the artefact may be purged (aware, in the policy's zone)."""
    anchor_day = retention_anchor(artefact).astimezone(policy.time_zone).date()
    last_day = add_years_on_or_after(anchor_day, policy.years(artefact.retention_class))
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=policy.time_zone)


def purge_decision(
    artefact: RetainedArtefact,
    now: datetime,
    legal_hold: bool,
    policy: RetentionPolicy = DEFAULT_POLICY,
) -> PurgeDecision:
    _require_aware(now, "now")
    expiry = expires_at(artefact, policy)
    if legal_hold:
        return PurgeDecision(False, "legal_hold", expiry)
    if now < expiry:
        return PurgeDecision(False, "retention_period_running", expiry)
    return PurgeDecision(True, "retention_period_ended", expiry)


def is_purgeable(
    artefact: RetainedArtefact,
    now: datetime,
    legal_hold: bool,
    policy: RetentionPolicy = DEFAULT_POLICY,
) -> bool:
    """True only after the retention period has ended and no legal hold applies."""
    return purge_decision(artefact, now, legal_hold, policy).purgeable

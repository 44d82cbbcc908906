"""Retention periods: legal floors, the last-visit rule, leap days, legal hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recorder.retention import (
    CHINA_STANDARD_TIME,
    NaiveDatetimeError,
    RetainedArtefact,
    RetentionClass,
    RetentionPolicy,
    add_years_on_or_after,
    expires_at,
    is_purgeable,
    purge_decision,
)

CST = CHINA_STANDARD_TIME
PROCESS = RetentionClass.PROCESS_RECORD
MEDICAL = RetentionClass.MEDICAL_RECORD

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2080, 12, 31), timezones=st.just(UTC)
)


def recording(at: datetime) -> RetainedArtefact:
    return RetainedArtefact("consults/c1/recordings/guardian-001.webm", PROCESS, at)


def photo(at: datetime, last_visit: datetime | None = None) -> RetainedArtefact:
    return RetainedArtefact("consults/c1/photos/p1.jpg", MEDICAL, at, last_visit)


def test_a_fake_clock_past_three_years_purges_process_records_but_not_medical_records() -> None:
    consult_end = datetime(2025, 3, 10, 15, 30, tzinfo=CST)
    later = datetime(2028, 3, 11, 0, 0, tzinfo=CST)  # first instant after 2028-03-10 24:00
    assert is_purgeable(recording(consult_end), later, legal_hold=False)
    assert not is_purgeable(recording(consult_end), later - timedelta(microseconds=1), False)
    assert not is_purgeable(photo(consult_end), later, legal_hold=False)
    assert is_purgeable(photo(consult_end), datetime(2040, 3, 11, tzinfo=CST), False)


def test_legal_hold_blocks_even_long_expired_artefacts() -> None:
    far_future = datetime(2099, 1, 1, tzinfo=UTC)
    decision = purge_decision(recording(datetime(2025, 1, 1, tzinfo=UTC)), far_future, True)
    assert not decision.purgeable and decision.reason == "legal_hold"


def test_configured_periods_are_floored_at_the_legal_minimums() -> None:
    policy = RetentionPolicy(process_record_years=1, medical_record_years=10)
    assert (policy.process_record_years, policy.medical_record_years) == (3, 15)
    assert set(policy.raised_to_minimum) == {PROCESS, MEDICAL}
    longer = RetentionPolicy(process_record_years=5, medical_record_years=30)
    assert (longer.process_record_years, longer.medical_record_years, longer.raised_to_minimum) == (
        5,
        30,
        (),
    )
    start = datetime(2025, 6, 1, 12, tzinfo=CST)
    assert expires_at(recording(start), policy) == datetime(2028, 6, 2, tzinfo=CST)
    assert expires_at(recording(start), longer) == datetime(2030, 6, 2, tzinfo=CST)


def test_a_later_visit_extends_the_medical_record() -> None:
    first_visit = datetime(2025, 5, 1, 9, tzinfo=CST)
    second_visit = datetime(2031, 8, 20, 9, tzinfo=CST)
    assert expires_at(photo(first_visit)) == datetime(2040, 5, 2, tzinfo=CST)
    assert expires_at(photo(first_visit, second_visit)) == datetime(2046, 8, 21, tzinfo=CST)
    # A process record of the first visit is not extended by later visits.
    extended = RetainedArtefact("k", PROCESS, first_visit, second_visit)
    assert expires_at(extended) == datetime(2028, 5, 2, tzinfo=CST)


def test_leap_day_anchor_is_kept_until_after_the_first_of_march() -> None:
    leap_day = datetime(2024, 2, 29, 10, tzinfo=CST)
    assert add_years_on_or_after(date(2024, 2, 29), 3) == date(2027, 3, 1)
    assert add_years_on_or_after(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert expires_at(recording(leap_day)) == datetime(2027, 3, 2, tzinfo=CST)
    assert expires_at(photo(leap_day)) == datetime(2039, 3, 2, tzinfo=CST)
    # 2024-02-29 + 16 years lands on a leap year again.
    assert expires_at(photo(leap_day), RetentionPolicy(medical_record_years=16)) == datetime(
        2040, 3, 1, tzinfo=CST
    )


def test_the_day_counts_in_the_hospitals_time_zone() -> None:
    # 2025-01-01 20:00 UTC is already 2 January in Beijing.
    late_utc = datetime(2025, 1, 1, 20, tzinfo=UTC)
    assert expires_at(recording(late_utc)) == datetime(2028, 1, 3, tzinfo=CST)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        expires_at(recording(datetime(2025, 1, 1)))
    with pytest.raises(NaiveDatetimeError):
        is_purgeable(recording(datetime(2025, 1, 1, tzinfo=UTC)), datetime(2030, 1, 1), False)


@given(
    at=moments,
    retention_class=st.sampled_from(list(RetentionClass)),
    configured=st.integers(min_value=-5, max_value=40),
)
def test_never_purgeable_before_the_legal_minimum_whatever_the_configuration(
    at: datetime, retention_class: RetentionClass, configured: int
) -> None:
    minimum = 3 if retention_class is PROCESS else 15
    policy = RetentionPolicy(process_record_years=configured, medical_record_years=configured)
    artefact = RetainedArtefact("k", retention_class, at)
    expiry = expires_at(artefact, policy)
    # At least `minimum` calendar years: never earlier than minimum * 365 days + the leap days.
    assert expiry - at >= timedelta(days=365 * minimum + minimum // 4)
    assert expiry.date() > add_years_on_or_after(at.astimezone(CST).date(), minimum)
    assert not is_purgeable(artefact, expiry - timedelta(microseconds=1), False, policy)
    assert is_purgeable(artefact, expiry, False, policy)
    assert not is_purgeable(artefact, expiry + timedelta(days=10_000), True, policy)


@given(first=moments, gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20000)))
def test_expiry_is_monotonic_in_the_anchor(first: datetime, gap: timedelta) -> None:
    assume(first + gap < datetime(2090, 1, 1, tzinfo=UTC))
    assert expires_at(recording(first)) <= expires_at(recording(first + gap))
    assert expires_at(photo(first)) <= expires_at(photo(first, first + gap))


@given(
    recorded=moments, stale=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9000))
)
def test_a_stale_last_visit_never_shortens_a_medical_record(
    recorded: datetime, stale: timedelta
) -> None:
    assume(recorded - stale > datetime(1990, 1, 1, tzinfo=UTC))
    assert expires_at(photo(recorded, recorded - stale)) == expires_at(photo(recorded))


@given(at=moments, offset_hours=st.integers(min_value=-12, max_value=14))
def test_the_same_instant_in_any_zone_expires_at_the_same_instant(
    at: datetime, offset_hours: int
) -> None:
    elsewhere = at.astimezone(timezone(timedelta(hours=offset_hours)))
    assert expires_at(recording(at)) == expires_at(recording(elsewhere))

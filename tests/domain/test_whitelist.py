from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.clinical.specialties import Specialty
from server.clinical.whitelist import (
    ALLOWED_STATUS_CHANGES,
    REASON_TEXT,
    Credentials,
    Ineligibility,
    Title,
    WhitelistStatus,
    add_years_on_or_before,
    bookable_reasons,
    check_re_registration,
    check_status_change,
    credential_order_errors,
    eligibility,
)
from server.kernel.errors import Conflict

AS_OF = date(2026, 11, 20)


def creds(**changes):
    base = dict(licence_number="110000001", title=Title.ATTENDING,
                independent_practice_since=date(2020, 1, 1),
                internet_consults_since=date(2024, 1, 1),
                training_exam_passed_on=date(2025, 6, 1),
                specialties=frozenset({Specialty.DERMATOLOGY}))
    base.update(changes)
    return Credentials(**base)


def test_a_physician_meeting_every_rule_is_eligible():
    assert eligibility(creds(), AS_OF).eligible


def test_three_years_of_practice_is_reached_on_the_anniversary_not_a_day_before():
    started = date(2023, 11, 20)
    assert eligibility(creds(independent_practice_since=started), AS_OF).eligible
    day_late = started + timedelta(days=1)
    assert eligibility(creds(independent_practice_since=day_late), AS_OF).reasons == (
        "independent_practice_under_3_years",)


def test_one_year_of_internet_consults_is_counted_to_the_day():
    assert eligibility(creds(internet_consults_since=date(2025, 11, 20)), AS_OF).eligible
    assert eligibility(creds(internet_consults_since=date(2025, 11, 21)), AS_OF).reasons == (
        "internet_consults_under_1_year",)
    assert "internet_consults_under_1_year" in eligibility(
        creds(internet_consults_since=None), AS_OF).reasons


@pytest.mark.parametrize(("title", "ok"), [(Title.RESIDENT, False), (Title.ATTENDING, True),
                                           (Title.ASSOCIATE_CHIEF, True), (Title.CHIEF, True)])
def test_attending_or_above(title, ok):
    assert eligibility(creds(title=title), AS_OF).eligible is ok


def test_exam_must_be_passed_by_the_date_asked_about():
    assert "training_exam_not_passed" in eligibility(creds(training_exam_passed_on=None),
                                                     AS_OF).reasons
    assert "training_exam_not_passed" in eligibility(
        creds(training_exam_passed_on=AS_OF + timedelta(days=1)), AS_OF).reasons


@pytest.mark.parametrize(("passed_on", "eligible"), [
    (AS_OF - timedelta(days=1), True),   # the day before
    (AS_OF, True),                       # the day of the exam counts
    (AS_OF + timedelta(days=1), False),  # a date after the one asked about does not
])
def test_the_exam_date_boundary(passed_on, eligible):
    verdict = eligibility(creds(training_exam_passed_on=passed_on), AS_OF)
    assert verdict.eligible is eligible
    assert verdict.reasons == (() if eligible else ("training_exam_not_passed",))


def test_every_failing_rule_is_reported_at_once():
    verdict = eligibility(creds(title=Title.RESIDENT, independent_practice_since=AS_OF,
                                internet_consults_since=None, training_exam_passed_on=None,
                                specialties=frozenset()), AS_OF)
    assert set(verdict.reasons) == {"independent_practice_under_3_years", "title_below_attending",
                                    "internet_consults_under_1_year", "training_exam_not_passed",
                                    "no_pilot_specialty"}


@given(st.dates(min_value=date(1960, 1, 1), max_value=date(2030, 12, 31)),
       st.dates(min_value=date(1960, 1, 1), max_value=date(2035, 12, 31)))
def test_practice_rule_agrees_with_calendar_arithmetic(started, as_of):
    verdict = eligibility(creds(independent_practice_since=started), as_of)
    three_years_on = add_years_on_or_before(started, 3)
    assert ("independent_practice_under_3_years" in verdict.reasons) == (three_years_on > as_of)


def test_leap_day_anniversary_falls_on_28_february():
    assert add_years_on_or_before(date(2024, 2, 29), 3) == date(2027, 2, 28)
    assert add_years_on_or_before(date(2024, 2, 29), 4) == date(2028, 2, 29)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(min_value=0, max_value=50))
def test_adding_years_keeps_the_day_or_falls_back_to_28_february(day, years):
    later = add_years_on_or_before(day, years)
    assert later.year == day.year + years
    if (day.month, day.day) == (2, 29) and later.day != 29:
        assert (later.month, later.day) == (2, 28)
    else:
        assert (later.month, later.day) == (day.month, day.day)


STATUS_TABLE = {
    ("not_listed", "active"), ("active", "suspended"), ("active", "revoked"),
    ("suspended", "active"), ("suspended", "revoked"),
}


@pytest.mark.parametrize("current", list(WhitelistStatus))
@pytest.mark.parametrize("new", list(WhitelistStatus))
def test_status_changes_follow_the_table(current, new):
    if (current.value, new.value) in STATUS_TABLE:
        check_status_change(current, new)
    else:
        with pytest.raises(Conflict) as refused:
            check_status_change(current, new)
        assert refused.value.detail == (
            f"whitelist status cannot change from {current.value} to {new.value}")


def test_bookable_needs_eligibility_active_status_and_the_specialty():
    c = creds()
    assert bookable_reasons(c, WhitelistStatus.ACTIVE, Specialty.DERMATOLOGY, AS_OF) == []
    assert bookable_reasons(c, WhitelistStatus.SUSPENDED, Specialty.DERMATOLOGY, AS_OF) == [
        "suspended"]
    assert bookable_reasons(c, WhitelistStatus.NOT_LISTED, Specialty.DERMATOLOGY, AS_OF) == [
        "not_whitelisted"]
    assert bookable_reasons(c, WhitelistStatus.ACTIVE, Specialty.NUTRITION, AS_OF) == [
        "specialty_not_registered"]


def test_a_revoked_physician_cannot_be_booked_even_when_otherwise_eligible():
    assert bookable_reasons(creds(), WhitelistStatus.REVOKED, Specialty.DERMATOLOGY, AS_OF) == [
        "revoked"]
    assert bookable_reasons(creds(), WhitelistStatus.REVOKED, Specialty.NUTRITION, AS_OF) == [
        "revoked", "specialty_not_registered"]


@pytest.mark.parametrize("status", [s for s in WhitelistStatus if s is not WhitelistStatus.ACTIVE])
@given(as_of=st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)))
def test_only_an_active_physician_is_ever_bookable(status, as_of):
    assert bookable_reasons(creds(), status, Specialty.DERMATOLOGY, as_of)


def test_every_reason_has_its_text_in_chinese_and_english():
    for reason in Ineligibility:
        text = REASON_TEXT[reason]
        zh, _, en = text.partition(" ")
        assert zh and all("\u4e00" <= ch <= "\u9fff" or ch.isdigit() for ch in zh), text
        assert en.isascii() and any(ch.isalpha() for ch in en), text
    assert set(REASON_TEXT) == set(Ineligibility)
    assert len(set(REASON_TEXT.values())) == len(Ineligibility)


credentials = st.builds(
    Credentials, licence_number=st.just("110000001"), title=st.sampled_from(Title),
    independent_practice_since=st.dates(min_value=date(1990, 1, 1),
                                        max_value=date(2030, 1, 1)),
    internet_consults_since=st.none() | st.dates(min_value=date(2015, 1, 1),
                                                 max_value=date(2030, 1, 1)),
    training_exam_passed_on=st.none() | st.dates(min_value=date(2015, 1, 1),
                                                 max_value=date(2030, 1, 1)),
    specialties=st.frozensets(st.sampled_from(Specialty)))


@given(credentials, st.sampled_from(WhitelistStatus), st.sampled_from(Specialty),
       st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 1, 1)))
def test_every_reason_ever_given_is_a_known_code_with_text(c, status, specialty, as_of):
    for reason in bookable_reasons(c, status, specialty, as_of):
        assert isinstance(reason, Ineligibility) and REASON_TEXT[reason]


# -- internet follow-up experience cannot start before independent practice ----------------

@pytest.mark.parametrize(("internet", "refused"), [
    (date(2019, 12, 31), True),   # the day before independent practice began
    (date(2020, 1, 1), False),    # the same day
    (date(2020, 1, 2), False),
    (None, False),
])
def test_internet_experience_dated_before_independent_practice_is_refused(internet, refused):
    errors = credential_order_errors(creds(internet_consults_since=internet))
    if not refused:
        assert errors == []
        return
    assert [(e.field, e.message) for e in errors] == [(
        "internet_consults_since", "2019-12-31 is before independent practice began "
        "(2020-01-01): internet follow-up consults need independent practice")]


def test_a_stored_record_counts_internet_experience_from_independent_practice_at_the_earliest():
    # Practice from 2025-11-20 (under 3 years, reported separately); internet "since 2020":
    # the year of internet experience is reached on 2026-11-20, not years earlier.
    early = creds(independent_practice_since=date(2025, 11, 21),
                  internet_consults_since=date(2020, 1, 1))
    assert "internet_consults_under_1_year" in eligibility(early, AS_OF).reasons
    on_time = creds(independent_practice_since=date(2025, 11, 20),
                    internet_consults_since=date(2020, 1, 1))
    assert "internet_consults_under_1_year" not in eligibility(on_time, AS_OF).reasons


# -- re-registration after revocation: a new record supersedes the revoked one -------------

@pytest.mark.parametrize("status", list(WhitelistStatus))
@pytest.mark.parametrize("superseded", [False, True])
def test_only_a_revoked_record_not_yet_superseded_is_registered_anew(status, superseded):
    if status is WhitelistStatus.REVOKED and not superseded:
        check_re_registration(status, superseded)
        return
    with pytest.raises(Conflict) as refused:
        check_re_registration(status, superseded)
    assert refused.value.detail == (
        "this record is already superseded by a re-registration" if superseded else
        f"only a revoked record is superseded by a re-registration; this one is "
        f"{status.value} (a suspended physician is reinstated)")


def test_revocation_stays_final_for_its_record():
    assert ALLOWED_STATUS_CHANGES[WhitelistStatus.REVOKED] == frozenset()

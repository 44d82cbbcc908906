"""Booking's calendar rules read days in the hospital's time zone (Asia/Shanghai): a birthday
starts at midnight in Beijing, which is 16:00 UTC the day before."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.clinical.booking import BookingIn, PilotPeriod, age_in_whole_years, check_booking
from server.kernel.clock import Clock, calendar_date
from server.kernel.errors import InvalidInput
from server.kernel.validation import parse_json

BEIJING = ZoneInfo("Asia/Shanghai")
OPEN = PilotPeriod()


def booking(birth_date: date, start: datetime) -> BookingIn:
    return parse_json(BookingIn, json.dumps({
        "physician_id": "p1", "specialty": "growth_development",
        "child": {"name": "李小宝", "sex": "female", "birth_date": birth_date.isoformat()},
        "guardian": {"name": "李妈妈", "relationship": "mother", "phone": "13800138000"},
        "scheduled_start": start.isoformat()}))


def refusals(birth_date: date, now: datetime, start: datetime,
             pilot: PilotPeriod = OPEN) -> dict[str, str]:
    try:
        check_booking(booking(birth_date, start), now, 60, zone=BEIJING, pilot=pilot)
    except InvalidInput as error:
        return {e.field: e.message for e in error.errors}
    return {}


def test_calendar_date_is_the_hospitals_day_across_midnight_utc():
    assert calendar_date(datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC), BEIJING) == date(
        2026, 11, 20)
    assert calendar_date(datetime(2026, 11, 20, 16, 0, tzinfo=UTC), BEIJING) == date(
        2026, 11, 21)
    clock = Clock(fixed=datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    assert clock.today() == clock.date_of(clock.now()) == date(2026, 11, 21)


# 23:30 UTC on 20 November is 07:30 on 21 November in Beijing.
NOW = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
SOON = NOW + timedelta(minutes=15)  # 07:45 Beijing, 21 November


def test_a_consult_on_the_18th_birthday_in_beijing_is_refused_before_08_00():
    assert refusals(date(2008, 11, 21), NOW, SOON) == {
        "child.birth_date": "the child is 18 or older: the paediatric first-visit pilot "
                            "covers children under 18"}
    assert refusals(date(2008, 11, 22), NOW, SOON) == {}  # 18 tomorrow: still a child today


def test_a_child_born_today_in_beijing_can_be_booked_before_08_00():
    assert refusals(date(2026, 11, 21), NOW, SOON) == {}
    assert refusals(date(2026, 11, 22), NOW, SOON) == {"child.birth_date": "is in the future"}


def test_the_consult_day_is_the_hospitals_day_too():
    # Booked at 10:00 Beijing on the 20th for 00:30 Beijing on the 21st (16:30 UTC on the
    # 20th): the child turns 18 on the 21st.
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    start = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    assert "child.birth_date" in refusals(date(2008, 11, 21), now, start)
    assert refusals(date(2008, 11, 21), now, start - timedelta(hours=1)) == {}  # 23:30 on 20th


def test_age_in_whole_years_turns_on_the_birthday():
    assert age_in_whole_years(date(2008, 11, 21), date(2026, 11, 20)) == 17
    assert age_in_whole_years(date(2008, 11, 21), date(2026, 11, 21)) == 18


PILOT = PilotPeriod(first_day=date(2026, 11, 21), last_day=date(2026, 12, 31))


@pytest.mark.parametrize(("start", "message"), [
    # The first day begins at 16:00 UTC the day before.
    (datetime(2026, 11, 20, 15, 59, tzinfo=UTC),
     "the pilot starts on 2026-11-21: no consult can be held before it"),
    (datetime(2026, 11, 20, 16, 0, tzinfo=UTC), None),
    # The last day ends at 16:00 UTC on that day.
    (datetime(2026, 12, 31, 15, 59, tzinfo=UTC), None),
    (datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
     "the pilot ended on 2026-12-31: no consult can be held after it"),
])
def test_consults_outside_the_pilots_days_are_refused(start, message):
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    found = refusals(date(2020, 1, 1), now, start, PILOT)
    assert found == ({} if message is None else {"scheduled_start": message})


def test_an_open_pilot_period_refuses_no_day():
    assert OPEN.refusal(date(1900, 1, 1)) is None and OPEN.refusal(date(2999, 1, 1)) is None
    assert PilotPeriod(last_day=date(2026, 1, 1)).refusal(date(2025, 1, 1)) is None
    assert PilotPeriod(first_day=date(2026, 1, 1)).refusal(date(2027, 1, 1)) is None


WINDOW_NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("start", "message"), [
    # A 60-minute window must still be open: ending exactly now is over.
    (WINDOW_NOW - timedelta(minutes=60), "the consult window is already over"),
    (WINDOW_NOW - timedelta(minutes=59), None),
    # At most 90 days ahead, to the second.
    (WINDOW_NOW + timedelta(days=90), None),
    (WINDOW_NOW + timedelta(days=90, seconds=1), "more than 90 days ahead"),
])
def test_the_window_is_open_and_at_most_90_days_ahead(start, message):
    found = refusals(date(2020, 1, 1), WINDOW_NOW, start)
    assert found == ({} if message is None else {"scheduled_start": message})


def test_the_window_ends_after_its_minutes_in_utc():
    start = datetime(2026, 11, 20, 12, 0, tzinfo=BEIJING)  # 04:00 UTC
    end = check_booking(booking(date(2020, 1, 1), start), WINDOW_NOW, 45, zone=BEIJING,
                        pilot=OPEN)
    assert end == datetime(2026, 11, 20, 4, 45, tzinfo=UTC) and end.tzinfo is UTC

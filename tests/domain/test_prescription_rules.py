"""The pure rules of a prescription item: a declared controlled class, the written reason
for a supply of 30 days or more, and the under-6 rule at its boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from server.clinical.prescription import LONG_SUPPLY_DAYS, PrescriptionItem
from server.clinical.young_child_prescribing import (
    AccompanyingPhysicianIn,
    is_under_six,
    sixth_birthday,
    young_child_refusal,
)
from server.kernel.clock import Clock

ITEM = {"drug": "ibuprofen suspension", "strength": "100 mg/5 ml", "dose": "5 ml",
        "route": "oral", "frequency": "every 8 h if needed", "duration_days": 3,
        "quantity": "1 bottle"}


@pytest.mark.parametrize(("days", "reason", "accepted"), [
    (LONG_SUPPLY_DAYS - 1, "", True),
    (LONG_SUPPLY_DAYS, "", False),
    (LONG_SUPPLY_DAYS, "维持治疗，一个月后复诊", True),
])
def test_a_supply_of_30_days_needs_a_written_reason(days, reason, accepted):
    body = {**ITEM, "duration_days": days, "long_supply_reason": reason}
    if accepted:
        assert PrescriptionItem.model_validate(body).duration_days == days
    else:
        with pytest.raises(ValidationError, match="needs long_supply_reason"):
            PrescriptionItem.model_validate(body)


def test_a_declared_controlled_class_is_refused_whatever_the_name():
    with pytest.raises(ValidationError, match="psychotropic_2 drugs may not be prescribed"):
        PrescriptionItem.model_validate({**ITEM, "drug_class": "psychotropic_2"})


BORN = date(2020, 5, 20)


@pytest.mark.parametrize(("day", "under_six"), [
    (date(2026, 5, 19), True), (date(2026, 5, 20), False), (date(2026, 5, 21), False),
    (date(2022, 5, 20), True),
])
def test_six_from_the_sixth_birthday(day, under_six):
    assert is_under_six(BORN, day) is under_six


@pytest.mark.parametrize(("instant", "under_six"), [
    # 00:00 Beijing on the 6th birthday is 16:00 UTC the day before: already 6.
    (datetime(2026, 5, 19, 16, 0, tzinfo=UTC), False),
    (datetime(2026, 5, 19, 15, 59, 59, tzinfo=UTC), True),
    # The UTC date is already the birthday, Beijing's too: 6.
    (datetime(2026, 5, 20, 0, 0, tzinfo=UTC), False),
    # 23:59 Beijing on the day before the birthday (15:59 UTC): still 5.
    (datetime(2026, 5, 19, 15, 59, tzinfo=UTC), True),
])
def test_the_birthday_begins_at_midnight_in_beijing(instant, under_six):
    day = Clock(fixed=instant).today()
    assert is_under_six(BORN, day) is under_six


def test_a_leap_day_child_turns_six_on_the_first_of_march():
    assert sixth_birthday(date(2020, 2, 29)) == date(2026, 3, 1)
    assert is_under_six(date(2020, 2, 29), date(2026, 2, 28))
    assert not is_under_six(date(2020, 2, 29), date(2026, 3, 1))
    assert sixth_birthday(date(2018, 2, 28)) == date(2024, 2, 28)


@pytest.mark.parametrize(("guardian", "accompanying", "refused"), [
    (True, True, False), (True, False, True), (False, True, True), (False, False, True),
])
def test_under_six_needs_the_guardian_and_the_accompanying_physician(guardian, accompanying,
                                                                      refused):
    refusal = young_child_refusal(birth_date=BORN, consult_day=date(2026, 5, 19),
                                  guardian_confirmed=guardian,
                                  accompanying_physician=accompanying)
    assert (refusal is not None) is refused
    if refusal is not None:
        audit = refusal.audit()
        assert audit["sixth_birthday"] == "2026-05-20"
        assert audit["offline_referral_offered"] is True
        assert (audit["guardian_confirmed"], audit["accompanying_physician_recorded"]) == (
            guardian, accompanying)


def test_from_six_on_neither_is_asked_by_this_rule():
    assert young_child_refusal(birth_date=BORN, consult_day=date(2026, 5, 20),
                               guardian_confirmed=False, accompanying_physician=False) is None


@pytest.mark.parametrize("licence", ["", "12345", "1234 5678", "x" * 41])
def test_the_accompanying_physician_needs_a_licence_number(licence):
    with pytest.raises(ValidationError):
        AccompanyingPhysicianIn.model_validate({"name": "张医生", "licence_number": licence,
                                                "institution": "社区卫生服务中心"})


def test_the_young_child_refusal_keeps_what_was_missing_in_the_audit_log():
    refusal = young_child_refusal(birth_date=BORN, consult_day=date(2026, 5, 19),
                                  guardian_confirmed=True, accompanying_physician=False)
    assert refusal is not None
    assert refusal.audit() == {"rule": "under_6_accompanied", "consult_day": "2026-05-19",
                               "sixth_birthday": "2026-05-20", "guardian_confirmed": True,
                               "accompanying_physician_recorded": False,
                               "offline_referral_offered": True}

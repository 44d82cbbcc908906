"""Prescribing online for a young child (互联网诊疗管理办法（试行）第十九条): for a child
under 6, the physician must confirm that a guardian **and** a relevant professional
physician are with the child. The guardian's presence is confirmed in the call; the
accompanying physician is recorded by name, licence number and institution.

Age is counted on the consult's day in the hospital's calendar (Asia/Shanghai): a child is
6 from 00:00 Beijing time on the 6th birthday, whatever the UTC date is then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import StringConstraints

from server.kernel.validation import StrictModel

ACCOMPANIED_UNDER_YEARS = 6

REFUSAL_TEXT = (
    "儿童未满6周岁：互联网诊疗开具处方须确认患儿有监护人和相关专业医师陪伴（互联网诊疗管理办法"
    "（试行）第十九条）。请先记录陪同医师（姓名、执业证书编码、所在机构），或转线下就诊。 / "
    "The child is under 6: an online prescription needs the guardian and a relevant "
    "professional physician with the child (Internet Diagnosis and Treatment Measures, art. "
    "19). Record the accompanying physician (name, licence number, institution) first, or "
    "refer the child offline.")


class AccompanyingPhysicianIn(StrictModel):
    """The relevant professional physician present with the child."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    licence_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{6,40}$")]
    institution: Annotated[str, StringConstraints(min_length=2, max_length=200)]


def sixth_birthday(birth_date: date) -> date:
    """The day a child turns 6. Born on 29 February: 1 March of a common year — the
    later reading, so the rule never lapses a day early."""
    try:
        return birth_date.replace(year=birth_date.year + ACCOMPANIED_UNDER_YEARS)
    except ValueError:
        return date(birth_date.year + ACCOMPANIED_UNDER_YEARS, 3, 1)


def is_under_six(birth_date: date, on: date) -> bool:
    return on < sixth_birthday(birth_date)


@dataclass(frozen=True)
class YoungChildRefusal:
    """What is missing for this child's online prescription."""

    consult_day: date
    sixth_birthday: date
    guardian_confirmed: bool
    accompanying_physician: bool

    def audit(self) -> dict[str, Any]:
        return {"rule": "under_6_accompanied", "consult_day": self.consult_day.isoformat(),
                "sixth_birthday": self.sixth_birthday.isoformat(),
                "guardian_confirmed": self.guardian_confirmed,
                "accompanying_physician_recorded": self.accompanying_physician,
                "offline_referral_offered": True}


def young_child_refusal(*, birth_date: date, consult_day: date, guardian_confirmed: bool,
                        accompanying_physician: bool) -> YoungChildRefusal | None:
    """None when the prescription may go ahead as far as this rule is concerned."""
    if not is_under_six(birth_date, consult_day):
        return None
    if guardian_confirmed and accompanying_physician:
        return None
    return YoungChildRefusal(consult_day, sixth_birthday(birth_date), guardian_confirmed,
                             accompanying_physician)

"""Offline referral (转线下就诊): why, how urgently, to which department, and the reference
number the family shows at the hospital.

The pilot's safety rule is that a case unsuitable online stops at once and goes to an
in-person visit; the referral is the thing that must never be lost, so its vocabulary is
fixed here and an unknown department is refused rather than stored as free text nobody routes.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from server.kernel.validation import StrictModel

ReferralReason = Literal[
    "needs_physical_examination", "needs_lab_or_imaging", "condition_worsening",
    "possible_emergency", "outside_pilot_scope", "technical_failure", "guardian_request",
    "other",
]
Urgency = Literal["routine", "within_24h", "emergency"]

REASON_NAMES: dict[str, tuple[str, str]] = {
    "needs_physical_examination": ("需要体格检查", "Needs a physical examination"),
    "needs_lab_or_imaging": ("需要化验或影像检查", "Needs lab tests or imaging"),
    "condition_worsening": ("病情加重", "Condition worsening"),
    "possible_emergency": ("可能为急症", "Possible emergency"),
    "outside_pilot_scope": ("超出试点范围", "Outside the pilot's scope"),
    "technical_failure": ("技术故障", "Technical failure"),
    "guardian_request": ("监护人要求", "Guardian's request"),
    "other": ("其他", "Other"),
}

URGENCY_NAMES: dict[str, tuple[str, str]] = {
    "routine": ("常规门诊就诊", "Routine outpatient visit"),
    "within_24h": ("24小时内就诊", "Within 24 hours"),
    "emergency": ("请立即前往急诊科", "Go to the emergency department now"),
}

# Departments a first-visit paediatric consult refers to; hospitals route on these codes.
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "paediatrics": ("儿科门诊", "Paediatrics outpatients"),
    "paediatric_emergency": ("儿科急诊", "Paediatric emergency"),
    "child_health": ("儿童保健科", "Child health care"),
    "paediatric_endocrinology": ("儿童内分泌科", "Paediatric endocrinology"),
    "clinical_nutrition": ("临床营养科", "Clinical nutrition"),
    "paediatric_gastroenterology": ("儿童消化科", "Paediatric gastroenterology"),
    "paediatric_dermatology": ("儿童皮肤科", "Paediatric dermatology"),
    "paediatric_surgery": ("小儿外科", "Paediatric surgery"),
    "developmental_behavioural": ("儿童发育行为科", "Developmental & behavioural paediatrics"),
    "paediatric_allergy": ("儿童变态反应科", "Paediatric allergy"),
}

Text = Annotated[str, StringConstraints(max_length=2000)]


class Referral(StrictModel):
    reason: ReferralReason
    reason_text: Annotated[str, StringConstraints(max_length=500)] = ""
    urgency: Urgency
    department: str = Field(description="a department code (GET /api/reference/referral)")
    hospital: Annotated[str, StringConstraints(max_length=100)] = ""
    instructions: Text = Field(default="", description="what the family should do and bring")
    suggested_examinations: list[Annotated[str, StringConstraints(min_length=1,
                                                                  max_length=100)]] = Field(
        default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _rules(self) -> Referral:
        if self.department not in DEPARTMENTS:
            raise ValueError(f"unknown department {self.department!r}; one of: "
                             + ", ".join(DEPARTMENTS))
        if self.reason == "other" and not self.reason_text:
            raise ValueError("reason 'other' needs reason_text")
        if self.reason == "possible_emergency" and self.urgency != "emergency":
            raise ValueError("a possible emergency must be referred with urgency 'emergency'")
        return self


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U to misread aloud


def new_reference_number(on: date) -> str:
    """e.g. ZZ20261120-7K3Q9P: a date the family can recognise plus 30 random bits."""
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    return f"ZZ{on:%Y%m%d}-{suffix}"


def referral_view(referral: dict[str, object], reference: str | None) -> dict[str, object]:
    reason, urgency = str(referral["reason"]), str(referral["urgency"])
    department = str(referral["department"])
    return {**referral, "reference_number": reference,
            "reason_name": dict(zip(("zh", "en"), REASON_NAMES[reason], strict=True)),
            "urgency_name": dict(zip(("zh", "en"), URGENCY_NAMES[urgency], strict=True)),
            "department_name": dict(zip(("zh", "en"), DEPARTMENTS[department], strict=True))}

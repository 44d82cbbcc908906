"""How a consult ends: completed (diagnosis, advice, draft prescription), referred offline,
or aborted (which always leaves a referral or a reschedule request behind, never nothing)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel, StringConstraints, model_validator

from server.clinical.prescription import PrescriptionItem
from server.clinical.referral import Referral
from server.kernel.validation import StrictModel

Text = Annotated[str, StringConstraints(max_length=2000)]
ICD10 = Annotated[str, StringConstraints(pattern=r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")]


# The physician was suspended or revoked from the whitelist mid-consult (the server ends it).
PHYSICIAN_UNAVAILABLE = "physician_unavailable"


class Completed(StrictModel):
    outcome: Literal["completed"]
    diagnosis: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    icd10: ICD10 | None = None
    advice: Text = ""
    follow_up: Text = ""
    prescription: list[PrescriptionItem] = Field(default_factory=list, max_length=10)


class Referred(StrictModel):
    outcome: Literal["referred"]
    referral: Referral
    notes: Text = ""


class Aborted(StrictModel):
    outcome: Literal["aborted"]
    reason: Literal["technical_failure", "no_show_after_admit", "guardian_left",
                    "physician_connection_lost", "window_expired", "physician_unavailable",
                    "other"]
    reason_text: Annotated[str, StringConstraints(max_length=500)] = ""
    follow_up: Literal["referral", "reschedule"]
    referral: Referral | None = None

    @model_validator(mode="after")
    def _follow_up(self) -> Aborted:
        if self.follow_up == "referral" and self.referral is None:
            raise ValueError("an aborted consult with follow_up 'referral' needs the referral")
        return self


class EndConsult(RootModel[Annotated[Completed | Referred | Aborted,
                                     Field(discriminator="outcome")]]):
    """The body of ending a consult, one shape per outcome."""


def automatic_abort(reason: str, detail: str) -> Aborted:
    """The server ends a consult nobody is holding any more: a reschedule request, so the
    family is contacted again rather than left without an answer."""
    return Aborted(outcome="aborted", reason=reason,  # type: ignore[arg-type]
                   reason_text=detail, follow_up="reschedule")


def outcome_data(body: Completed | Referred | Aborted) -> dict[str, Any]:
    return body.model_dump(mode="json")


def referral_of(body: Completed | Referred | Aborted) -> Referral | None:
    if isinstance(body, Referred):
        return body.referral
    if isinstance(body, Aborted):
        return body.referral
    return None

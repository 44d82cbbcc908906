"""The gate an online prescription passes when the physician ends the consult with it:
the drug catalogue (shipped lists + the hospital's entries) and, for a child under 6, the
guardian and the accompanying physician. The rules are the pure functions of
prescription.py and young_child_prescribing.py; this module reads their facts from the
database and says what a refusal is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.clinical.drug_catalogue import DrugCatalogue, DrugMatcher
from server.clinical.local_drug_entries import current_catalogue
from server.clinical.prescription import DrugRefusal, PrescriptionItem, catalogue_refusals
from server.clinical.young_child_prescribing import (
    REFUSAL_TEXT,
    YoungChildRefusal,
    young_child_refusal,
)
from server.kernel.errors import Conflict, FieldError, InvalidInput
from server.kernel.models import AccompanyingPhysicianRow, ChildRow, ConsultRow


class PrescriptionRefused(InvalidInput):
    """Items the drug catalogue refuses online (or keeps for an in-person visit)."""

    code = "prescription_refused"
    title = "Not prescribable online"

    def __init__(self, refusals: Sequence[DrugRefusal], catalogue: DrugCatalogue) -> None:
        super().__init__([FieldError(f"completed.prescription.{r.index}",
                                     r.message(catalogue.version)) for r in refusals])
        self.extra["catalogue_version"] = catalogue.version
        self.extra["offline_referral_offered"] = True
        self.audit_details: dict[str, Any] = {
            "rule": "drug_catalogue", "catalogue": catalogue.provenance(),
            "items": [r.audit() for r in refusals]}


class AccompanyingPhysicianRequired(Conflict):
    code = "accompanying_physician_required"
    title = "A child under 6 needs a guardian and an accompanying physician for a prescription"

    def __init__(self, refusal: YoungChildRefusal) -> None:
        super().__init__(REFUSAL_TEXT, sixth_birthday=refusal.sixth_birthday.isoformat(),
                         guardian_confirmed=refusal.guardian_confirmed,
                         accompanying_physician_recorded=refusal.accompanying_physician,
                         offline_referral_offered=True)
        self.audit_details = refusal.audit()


async def prescribing_refusal(session: AsyncSession, consult: ConsultRow,
                              items: Sequence[PrescriptionItem],
                              consult_day: date) -> PrescriptionRefused | \
        AccompanyingPhysicianRequired | None:
    """Why these items may not be prescribed in this consult now, if they may not: the
    catalogue first (it refuses whoever the child is), then the young-child rule."""
    catalogue = await current_catalogue(session)
    refused = catalogue_refusals(items, DrugMatcher(catalogue))
    if refused:
        return PrescriptionRefused(refused, catalogue)
    child = await session.get_one(ChildRow, consult.child_id)
    accompanying = await session.get(AccompanyingPhysicianRow, consult.id)
    young = young_child_refusal(birth_date=child.birth_date, consult_day=consult_day,
                                guardian_confirmed=consult.guardian_confirmed_at is not None,
                                accompanying_physician=accompanying is not None)
    return None if young is None else AccompanyingPhysicianRequired(young)

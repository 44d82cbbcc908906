"""Draft prescription items and the rules an online prescription must pass:
- no narcotic, psychotropic or other specially managed drug (互联网诊疗管理办法（试行）第十九条):
  the drug catalogue decides, by class (server/clinical/drug_catalogue/);
- a supply of 30 days or more carries the physician's written reason.

shouzhen does not dispense: the items are a draft signed by the treating physician, handed
off for pharmacist review and delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from server.clinical.drug_catalogue import CatalogueMatch, DrugMatcher
from server.kernel.validation import StrictModel

Route = Literal["oral", "topical", "inhaled", "nasal", "ophthalmic", "otic", "rectal",
                "transdermal"]
# Parenteral routes are left out on purpose: nothing injectable is prescribed at home.

DrugClass = Literal["general", "narcotic", "psychotropic_1", "psychotropic_2", "toxic",
                    "radioactive", "precursor_chemical"]
FORBIDDEN_CLASSES = frozenset({"narcotic", "psychotropic_1", "psychotropic_2", "toxic",
                               "radioactive", "precursor_chemical"})
LONG_SUPPLY_DAYS = 30
"""From this many days on, the item needs `long_supply_reason`."""

Short = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PrescriptionItem(StrictModel):
    drug: Short = Field(description="generic name, as in the hospital's catalogue; checked "
                                    "against the drug catalogue whatever `drug_class` says")
    drug_class: DrugClass = "general"
    strength: Short
    dose: Short
    route: Route
    frequency: Short
    duration_days: int = Field(ge=1, le=30)
    quantity: Short
    long_supply_reason: Annotated[str, StringConstraints(max_length=500)] = Field(
        "", description=f"why a supply of {LONG_SUPPLY_DAYS} days or more is needed "
                        "(required from that length on)")

    @model_validator(mode="after")
    def _declared_class(self) -> PrescriptionItem:
        if self.drug_class in FORBIDDEN_CLASSES:
            raise ValueError(f"{self.drug}: {self.drug_class} drugs may not be prescribed "
                             "online")
        if self.duration_days >= LONG_SUPPLY_DAYS and not self.long_supply_reason:
            raise ValueError(f"a supply of {LONG_SUPPLY_DAYS} days or more needs "
                             "long_supply_reason")
        return self


# The English the page maps to its own words (static/js/call/field-messages.js) starts
# "<drug>: narcotic and psychotropic drugs may not be prescribed online".
_REFUSED_AS = {"narcotic": "narcotic and psychotropic drugs",
               "psychotropic_1": "narcotic and psychotropic drugs",
               "psychotropic_2": "narcotic and psychotropic drugs",
               "toxic": "toxic drugs", "radioactive": "radioactive drugs",
               "precursor_chemical": "precursor_chemical drugs"}


@dataclass(frozen=True)
class DrugRefusal:
    """One prescribed item the catalogue does not allow online."""

    index: int
    drug: str
    matches: tuple[CatalogueMatch, ...]

    @property
    def rule(self) -> str:
        return "refuse" if any(m.entry.rule == "refuse" for m in self.matches) else \
            "offline_only"

    def message(self, version: str) -> str:
        first = self.matches[0].entry
        named = ", ".join(f"{m.entry.generic_name_zh} ({m.entry.inn}, {m.entry.drug_class})"
                          for m in self.matches)
        if self.rule == "offline_only":
            return (f"{self.drug}: prescribed only at an in-person visit; refer the child "
                    f"offline — {named}; drug catalogue {version}")
        what = _REFUSED_AS.get(first.drug_class, f"{first.drug_class} drugs")
        return f"{self.drug}: {what} may not be prescribed online — {named}; " \
               f"drug catalogue {version}"

    def audit(self) -> dict[str, Any]:
        return {"index": self.index, "drug": self.drug, "rule": self.rule, "matched": [
            {"name": m.name, "generic_name_zh": m.entry.generic_name_zh, "inn": m.entry.inn,
             "class": m.entry.drug_class, "rule": m.entry.rule, "source": m.entry.source,
             "local_id": m.entry.local_id} for m in self.matches]}


def catalogue_refusals(items: Sequence[PrescriptionItem],
                       matcher: DrugMatcher) -> list[DrugRefusal]:
    """The items the catalogue refuses or keeps for an offline visit, in order."""
    refusals = []
    for index, item in enumerate(items):
        matches = matcher.find(item.drug)
        if matches:
            refusals.append(DrugRefusal(index, item.drug, tuple(matches)))
    return refusals

"""Draft prescription items and the rule that narcotic and psychotropic drugs are never
prescribed online (互联网诊疗不得开具麻醉药品、精神药品等特殊管理药品).

shouzhen does not dispense: the items are a draft signed by the treating physician, handed
off for pharmacist review and delivery.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from server.kernel.validation import StrictModel

Route = Literal["oral", "topical", "inhaled", "nasal", "ophthalmic", "otic", "rectal",
                "transdermal"]
# Parenteral routes are left out on purpose: nothing injectable is prescribed at home.

DrugClass = Literal["general", "narcotic", "psychotropic_1", "psychotropic_2", "toxic",
                    "radioactive", "precursor_chemical"]
FORBIDDEN_CLASSES = frozenset({"narcotic", "psychotropic_1", "psychotropic_2", "toxic",
                               "radioactive", "precursor_chemical"})

# Names from the national narcotic and psychotropic catalogues that a paediatric prescriber
# might plausibly type; a safety net in case the hospital's drug catalogue did not mark the
# class. Matching is on whole words / whole Chinese names, case-insensitive.
CONTROLLED_NAMES = (
    "morphine", "吗啡", "codeine", "可待因", "fentanyl", "芬太尼", "pethidine", "哌替啶",
    "oxycodone", "羟考酮", "tramadol", "曲马多", "methadone", "美沙酮", "buprenorphine",
    "丁丙诺啡", "diazepam", "地西泮", "安定", "midazolam", "咪达唑仑", "lorazepam", "劳拉西泮",
    "clonazepam", "氯硝西泮", "alprazolam", "阿普唑仑", "phenobarbital", "苯巴比妥",
    "methylphenidate", "哌甲酯", "ketamine", "氯胺酮", "zolpidem", "唑吡坦",
    "dextromethorphan", "右美沙芬", "pseudoephedrine", "伪麻黄碱", "ephedrine", "麻黄碱",
)
_CONTROLLED = re.compile(
    "|".join(rf"\b{re.escape(n)}\b" if n.isascii() else re.escape(n) for n in CONTROLLED_NAMES),
    re.IGNORECASE)

Short = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PrescriptionItem(StrictModel):
    drug: Short = Field(description="generic name, as in the hospital's catalogue")
    drug_class: DrugClass = "general"
    strength: Short
    dose: Short
    route: Route
    frequency: Short
    duration_days: int = Field(ge=1, le=30)
    quantity: Short

    @model_validator(mode="after")
    def _not_controlled(self) -> PrescriptionItem:
        if self.drug_class in FORBIDDEN_CLASSES:
            raise ValueError(f"{self.drug}: {self.drug_class} drugs may not be prescribed "
                             "online")
        if _CONTROLLED.search(self.drug):
            raise ValueError(f"{self.drug}: narcotic and psychotropic drugs may not be "
                             "prescribed online")
        return self

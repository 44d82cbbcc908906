"""Corrected age for children born preterm.

The WHO standards describe children born at term, so a preterm baby is compared with them at
the age it would have had if born at 40 weeks: corrected age = chronological age − (40 −
gestational age in weeks) weeks, for children born before 37 completed weeks, until 24 months
of chronological age (the convention of the WHO Anthro guidance and of paediatric practice;
by two years most preterm children have caught up and chronological age is used again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

TERM_WEEKS = 40
PRETERM_BELOW_WEEKS = 37
# 24 months of chronological age, on the WHO's own seam (731 days: the first "height" day).
CORRECT_UNTIL_AGE_DAYS = 731

RULE_EN = ("corrected age = chronological age − (40 − gestational age) weeks, for children "
           "born before 37 weeks, until 24 months of chronological age; z-scores and charts "
           "use it")
RULE_ZH = ("矫正年龄 = 实际年龄 −（40 − 出生胎龄）周；适用于胎龄不足37周出生的儿童，"
           "至实际年龄24月龄为止；Z评分和曲线图按矫正年龄计算")


@dataclass(frozen=True, slots=True)
class AgeCorrection:
    """How much younger a preterm child is counted while the correction lasts."""

    gestational_age_weeks: int

    @property
    def weeks(self) -> int:
        return TERM_WEEKS - self.gestational_age_weeks

    def term_date(self, birth_date: date) -> date:
        """The day the child reached 40 weeks: corrected age 0."""
        return birth_date + timedelta(weeks=self.weeks)

    def applies(self, chronological_age_days: int) -> bool:
        return chronological_age_days < CORRECT_UNTIL_AGE_DAYS

    def to_dict(self) -> dict[str, Any]:
        return {"gestational_age_weeks": self.gestational_age_weeks,
                "correction_weeks": self.weeks,
                "preterm_below_weeks": PRETERM_BELOW_WEEKS,
                "until_chronological_age_days": CORRECT_UNTIL_AGE_DAYS,
                "rule_en": RULE_EN, "rule_zh": RULE_ZH}


def age_correction(gestational_age_weeks: int | None) -> AgeCorrection | None:
    """The correction for a child born at this gestational age (None: born at term, or the
    gestational age is not known)."""
    if gestational_age_weeks is None or gestational_age_weeks >= PRETERM_BELOW_WEEKS:
        return None
    return AgeCorrection(gestational_age_weeks)

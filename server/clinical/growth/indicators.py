"""Indicators, the WHO's plausibility limits and its classification wording.

Flag codes are stable identifiers for the page's string catalogue; each flag
also carries ``label_en`` / ``label_zh`` so exports are readable on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Indicator = Literal["lhfa", "wfa", "wflh", "bmifa", "hcfa"]
INDICATORS: tuple[Indicator, ...] = ("lhfa", "wfa", "wflh", "bmifa", "hcfa")
Severity = Literal["info", "moderate", "severe"]


@dataclass(frozen=True, slots=True)
class IndicatorInfo:
    code: Indicator
    name_en: str
    name_zh: str
    unit: str
    # The WHO applies the restricted (SD23) computation beyond ±3 SD to the
    # weight-based indicators only; length/height and head circumference are
    # close to normal so the plain LMS z-score is used throughout.
    weight_based: bool
    # WHO flags for biologically implausible values (WHO Anthro / AnthroPlus:
    # flen |z|>6, fwei z<-6 or z>5, fwfl |z|>5, fbmi |z|>5, fhc |z|>5; the
    # same limits for WHO 2007 hfa / wfa / bfa).
    implausible_below: float
    implausible_above: float


INDICATOR_INFO: Mapping[Indicator, IndicatorInfo] = {
    "lhfa": IndicatorInfo("lhfa", "Length/height-for-age", "身长/身高-年龄", "cm", False, -6, 6),
    "wfa": IndicatorInfo("wfa", "Weight-for-age", "体重-年龄", "kg", True, -6, 5),
    "wflh": IndicatorInfo("wflh", "Weight-for-length/height", "体重-身长/身高", "kg", True, -5, 5),
    "bmifa": IndicatorInfo("bmifa", "BMI-for-age", "BMI-年龄", "kg/m²", True, -5, 5),
    "hcfa": IndicatorInfo("hcfa", "Head circumference-for-age", "头围-年龄", "cm", False, -5, 5),
}


@dataclass(frozen=True, slots=True)
class Flag:
    code: str
    label_en: str
    label_zh: str
    severity: Severity
    # The cut-off as the WHO states it, e.g. "z < -2", for exports and audit.
    rule: str

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "label_en": self.label_en,
            "label_zh": self.label_zh,
            "severity": self.severity,
            "rule": self.rule,
        }


def _flag(code: str, en: str, zh: str, severity: Severity, rule: str) -> Flag:
    return Flag(code, en, zh, severity, rule)


# WHO wording ("Training Course on Child Growth Assessment: Interpreting growth
# indicators"; WHO 2007 reference cut-offs for 5-19 y from de Onis et al. 2007).
FLAGS: Mapping[str, Flag] = {
    f.code: f
    for f in (
        _flag("severely_stunted", "severely stunted", "重度生长迟缓", "severe", "HFA z < -3"),
        _flag("stunted", "stunted", "生长迟缓", "moderate", "HFA z < -2"),
        _flag("very_tall", "very tall", "身材过高", "info", "HFA z > +3"),
        _flag("severely_underweight", "severely underweight", "重度低体重", "severe", "WFA z < -3"),
        _flag("underweight", "underweight", "低体重", "moderate", "WFA z < -2"),
        _flag(
            "severely_wasted", "severely wasted", "重度消瘦", "severe", "WFH/BMI z < -3 (under 5)"
        ),
        _flag("wasted", "wasted", "消瘦", "moderate", "WFH/BMI z < -2 (under 5)"),
        _flag(
            "possible_risk_of_overweight",
            "possible risk of overweight",
            "有超重风险",
            "info",
            "WFH/BMI z > +1 (under 5)",
        ),
        _flag(
            "overweight",
            "overweight",
            "超重",
            "moderate",
            "WFH/BMI z > +2 (under 5); BMI z > +1 (5-19 y)",
        ),
        _flag("obese", "obese", "肥胖", "severe", "WFH/BMI z > +3 (under 5); BMI z > +2 (5-19 y)"),
        _flag("severe_thinness", "severe thinness", "重度消瘦", "severe", "BMI z < -3 (5-19 y)"),
        _flag("thinness", "thinness", "消瘦", "moderate", "BMI z < -2 (5-19 y)"),
        # Head circumference: clinicians call < -2 SD microcephaly and < -3 SD severe
        # microcephaly; one measurement only shows the range (hence 风险 in Chinese).
        _flag(
            "severe_microcephaly",
            "severe microcephaly (head circumference < −3 SD)",
            "头围显著偏小（< −3 SD，重度小头畸形风险）",
            "severe",
            "HCFA z < -3",
        ),
        _flag(
            "microcephaly",
            "microcephaly (head circumference < −2 SD)",
            "头围偏小（< −2 SD，小头畸形风险）",
            "moderate",
            "HCFA z < -2",
        ),
        _flag(
            "macrocephaly",
            "macrocephaly (head circumference > +2 SD)",
            "头围偏大（> +2 SD，大头畸形风险）",
            "moderate",
            "HCFA z > +2",
        ),
    )
}

IMPLAUSIBLE_EN = "implausible — please re-measure"
IMPLAUSIBLE_ZH = "数值不合理，请复测"


# Classification bands, most severe first; the first band a z-score falls in
# is its flag.  Cut-offs are strict inequalities, as the WHO states them.
_Band = tuple[str, Callable[[float], bool]]
_UNDER_FIVE_WEIGHT_FOR_HEIGHT: tuple[_Band, ...] = (
    ("severely_wasted", lambda z: z < -3),
    ("wasted", lambda z: z < -2),
    ("obese", lambda z: z > 3),
    ("overweight", lambda z: z > 2),
    ("possible_risk_of_overweight", lambda z: z > 1),
)
_BANDS: Mapping[tuple[Indicator, str], tuple[_Band, ...]] = {
    ("lhfa", "any"): (
        ("severely_stunted", lambda z: z < -3),
        ("stunted", lambda z: z < -2),
        ("very_tall", lambda z: z > 3),
    ),
    ("wfa", "any"): (
        ("severely_underweight", lambda z: z < -3),
        ("underweight", lambda z: z < -2),
    ),
    ("wflh", "any"): _UNDER_FIVE_WEIGHT_FOR_HEIGHT,
    # Under 5 the WHO interprets BMI-for-age exactly like weight-for-length/height.
    ("bmifa", "who2006"): _UNDER_FIVE_WEIGHT_FOR_HEIGHT,
    ("bmifa", "who2007"): (
        ("severe_thinness", lambda z: z < -3),
        ("thinness", lambda z: z < -2),
        ("obese", lambda z: z > 2),
        ("overweight", lambda z: z > 1),
    ),
    ("hcfa", "any"): (
        ("severe_microcephaly", lambda z: z < -3),
        ("microcephaly", lambda z: z < -2),
        ("macrocephaly", lambda z: z > 2),
    ),
}


def classify(
    indicator: Indicator, z: float, reference: Literal["who2006", "who2007"]
) -> list[Flag]:
    """The WHO classification for a (plausible, 2-decimal) z-score.

    At most one flag per indicator: the most severe band the z-score falls in.
    """
    bands = _BANDS.get((indicator, reference)) or _BANDS[(indicator, "any")]
    for code, applies in bands:
        if applies(z):
            return [FLAGS[code]]
    return []

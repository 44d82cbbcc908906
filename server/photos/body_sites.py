"""The fixed list of body sites a physician can ask a skin photo of.

Codes are stable identifiers (stored with every photo for >= 15 years and sent
by the page): never rename or reuse one; add new sites at the end of their
region.  Names are Simplified Chinese first, English second, as on the pages.

SNOMED CT codes (for the DICOM export's Anatomic Region Sequence) are only the
ones found, with the same meaning, in the concept dictionary that pydicom
builds from the DICOM standard (``pydicom.sr._concepts_dict``); most come from
CID 4029 "Dermatology Anatomic Sites", the rest from CID 4031 "Common Anatomic
Regions".  The test suite checks every code here against that dictionary.
``snomed_exact`` is False where the code is broader than the site (the best
honest fit): wrist and ankle ("skin of upper/lower extremity"), dorsum of foot
and sole ("skin of foot").  The nappy area has no code: it spans perineum,
buttocks, groin and genitals, so the export leaves the region uncoded rather
than pick one.

``dicom_body_part`` (Body Part Examined, 0018,0015) is set only where we are
sure of the PS3.16 Annex L defined term; elsewhere it is None and the export
leaves that optional attribute out.  Not set, because not sure of the term:
upper/lower back, axilla, flank, buttock, groin, ear, face, perineum,
genitals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Laterality(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    MIDLINE = "midline"
    BILATERAL = "bilateral"

    @property
    def name_zh(self) -> str:
        return _LATERALITY_ZH[self]

    @property
    def name_en(self) -> str:
        return _LATERALITY_EN[self]

    @property
    def dicom(self) -> str:
        """Image Laterality (0020,0062): R, L, B, or U for an unpaired site."""
        return _LATERALITY_DICOM[self]

    @property
    def snomed(self) -> SnomedCode | None:
        """Anatomic Region Modifier (CID 2/244) - none for midline, which DICOM
        conveys as Image Laterality U (unpaired)."""
        return _LATERALITY_SNOMED.get(self)


_LATERALITY_ZH = {
    Laterality.LEFT: "左侧",
    Laterality.RIGHT: "右侧",
    Laterality.MIDLINE: "中线",
    Laterality.BILATERAL: "双侧",
}
_LATERALITY_EN = {
    Laterality.LEFT: "left",
    Laterality.RIGHT: "right",
    Laterality.MIDLINE: "midline",
    Laterality.BILATERAL: "both sides",
}
_LATERALITY_DICOM = {
    Laterality.LEFT: "L",
    Laterality.RIGHT: "R",
    Laterality.MIDLINE: "U",
    Laterality.BILATERAL: "B",
}


class View(StrEnum):
    OVERVIEW = "overview"
    CLOSE_UP = "close_up"

    @property
    def name_zh(self) -> str:
        return "全景" if self is View.OVERVIEW else "近景特写"

    @property
    def name_en(self) -> str:
        return "overview" if self is View.OVERVIEW else "close-up"


class Region(StrEnum):
    HEAD_NECK = "head_neck"
    TRUNK = "trunk"
    UPPER_LIMB = "upper_limb"
    LOWER_LIMB = "lower_limb"
    PERINEUM_GENITALS = "perineum_genitals"

    @property
    def name_zh(self) -> str:
        return _REGION_NAMES[self][0]

    @property
    def name_en(self) -> str:
        return _REGION_NAMES[self][1]


_REGION_NAMES = {
    Region.HEAD_NECK: ("头颈部", "head and neck"),
    Region.TRUNK: ("躯干", "trunk"),
    Region.UPPER_LIMB: ("上肢", "upper limb"),
    Region.LOWER_LIMB: ("下肢", "lower limb"),
    Region.PERINEUM_GENITALS: ("会阴及外生殖器", "perineum and genitals"),
}


@dataclass(frozen=True)
class SnomedCode:
    code: str
    meaning: str
    scheme: str = "SCT"  # DICOM's Coding Scheme Designator for SNOMED CT


_LATERALITY_SNOMED = {
    Laterality.LEFT: SnomedCode("7771000", "Left"),
    Laterality.RIGHT: SnomedCode("24028007", "Right"),
    Laterality.BILATERAL: SnomedCode("51440002", "Bilateral"),
}

# Which lateralities a site accepts.
PAIRED = frozenset({Laterality.LEFT, Laterality.RIGHT, Laterality.BILATERAL})
UNPAIRED = frozenset({Laterality.MIDLINE})
ANY_SIDE = frozenset(Laterality)  # a region with a midline and two sides (chest, back...)


@dataclass(frozen=True)
class BodySite:
    code: str
    name_zh: str
    name_en: str
    region: Region
    lateralities: frozenset[Laterality]
    snomed: SnomedCode | None
    snomed_exact: bool = True
    dicom_body_part: str | None = None
    # A photo of this site may show the child's face: the DICOM export marks
    # it "Recognizable Visual Features: YES" for de-identification tools.
    identifiable: bool = False

    @property
    def default_laterality(self) -> Laterality | None:
        """The laterality to assume when none is given: only for sites with one."""
        if len(self.lateralities) == 1:
            return next(iter(self.lateralities))
        return None


def _site(
    code: str,
    zh: str,
    en: str,
    region: Region,
    lateralities: frozenset[Laterality],
    snomed: tuple[str, str] | None,
    body_part: str | None = None,
    *,
    exact: bool = True,
    identifiable: bool = False,
) -> BodySite:
    return BodySite(
        code=code,
        name_zh=zh,
        name_en=en,
        region=region,
        lateralities=lateralities,
        snomed=SnomedCode(*snomed) if snomed else None,
        snomed_exact=exact if snomed else False,
        dicom_body_part=body_part,
        identifiable=identifiable,
    )


_HN, _TR, _UL, _LL, _PG = (
    Region.HEAD_NECK,
    Region.TRUNK,
    Region.UPPER_LIMB,
    Region.LOWER_LIMB,
    Region.PERINEUM_GENITALS,
)

# One site per row where it fits: this is a table, keep the formatter out.
# fmt: off
_SITES: tuple[BodySite, ...] = (
    # head and neck
    _site("scalp", "头皮", "scalp", _HN, ANY_SIDE, ("43067004", "Skin of scalp"), "HEAD"),
    _site(
        "face", "面部", "face", _HN, ANY_SIDE, ("73897004", "Skin of face"), "HEAD",
        identifiable=True,
    ),
    _site(
        "forehead", "前额", "forehead", _HN, ANY_SIDE, ("68698007", "Skin of forehead"), "HEAD",
        identifiable=True,
    ),
    _site(
        "temple", "颞部", "temple", _HN, PAIRED, ("16621002", "Skin of temporal region"), "HEAD",
        identifiable=True,
    ),
    _site(
        "periorbital", "眼周", "around the eye", _HN, PAIRED,
        ("362916000", "Skin of eye region"), "HEAD", identifiable=True,
    ),
    _site(
        "nose", "鼻部", "nose", _HN, UNPAIRED, ("113179006", "Skin of nose"), "HEAD",
        identifiable=True,
    ),
    _site(
        "cheek", "面颊", "cheek", _HN, PAIRED, ("36141000", "Skin of cheek"), "HEAD",
        identifiable=True,
    ),
    _site(
        "perioral", "口周", "around the mouth", _HN, ANY_SIDE,
        ("110488009", "Skin of perioral region of face"), "HEAD", identifiable=True,
    ),
    _site(
        "lips", "唇部", "lips", _HN, ANY_SIDE, ("88089004", "Skin of lip"), "HEAD",
        identifiable=True,
    ),
    _site(
        "chin", "下颏", "chin", _HN, UNPAIRED, ("23747009", "Skin of chin"), "HEAD",
        identifiable=True,
    ),
    _site("ear", "耳部", "ear", _HN, PAIRED, ("1902009", "Skin of ear")),
    _site(
        "postauricular", "耳后", "behind the ear", _HN, PAIRED,
        ("24483006", "Skin of postauricular region"),
    ),
    _site("neck", "颈部", "neck", _HN, ANY_SIDE, ("43081002", "Skin of neck"), "NECK"),
    # trunk
    _site(
        "chest", "胸部", "chest", _TR, ANY_SIDE,
        ("244106003", "Skin of anterior surface of thorax"), "CHEST",
    ),
    _site("abdomen", "腹部", "abdomen", _TR, ANY_SIDE, ("75093004", "Skin of abdomen"), "ABDOMEN"),
    _site("umbilicus", "脐部", "navel", _TR, UNPAIRED, ("315003", "Skin of umbilicus"), "ABDOMEN"),
    _site(
        "upper_back", "上背部", "upper back", _TR, ANY_SIDE,
        ("244111001", "Skin of posterior surface of thorax"),
    ),
    _site("lower_back", "下背部", "lower back", _TR, ANY_SIDE, ("113182001", "Skin of lower back")),
    _site("axilla", "腋窝", "armpit", _TR, PAIRED, ("76261009", "Skin of axilla")),
    _site("flank", "侧腰部", "flank", _TR, PAIRED, ("58602004", "Flank")),
    _site("buttock", "臀部", "buttock", _TR, PAIRED, ("22180002", "Skin of buttock")),
    # upper limb
    _site("shoulder", "肩部", "shoulder", _UL, PAIRED, ("16982005", "Shoulder"), "SHOULDER"),
    _site("upper_arm", "上臂", "upper arm", _UL, PAIRED, ("40983000", "Upper arm"), "ARM"),
    _site(
        "antecubital_fossa", "肘窝", "inner elbow", _UL, PAIRED,
        ("17957002", "Skin of antecubital fossa"), "ELBOW",
    ),
    _site(
        "elbow", "肘部（伸侧）", "outer elbow", _UL, PAIRED,
        ("181536004", "Skin of posterior surface of elbow"), "ELBOW",
    ),
    _site("forearm", "前臂", "forearm", _UL, PAIRED, ("14975008", "Forearm"), "FOREARM"),
    _site(
        "wrist", "腕部", "wrist", _UL, PAIRED, ("371311000", "Skin of upper extremity"), "WRIST",
        exact=False,
    ),
    _site("palm", "手掌", "palm", _UL, PAIRED, ("70887009", "Skin of palm of hand"), "HAND"),
    _site(
        "hand_dorsum", "手背", "back of the hand", _UL, PAIRED,
        ("281642007", "Skin of part of dorsal surface of hand"), "HAND",
    ),
    _site(
        "fingers", "手指", "fingers", _UL, PAIRED, ("244169007", "Skin of digit of hand"), "FINGER"
    ),
    _site(
        "fingernails", "指甲", "fingernails", _UL, PAIRED, ("770809003", "Nail unit of finger"),
        "FINGER",
    ),
    # lower limb
    _site("groin", "腹股沟", "groin", _LL, PAIRED, ("39687006", "Skin of inguinal region")),
    _site("thigh", "大腿", "thigh", _LL, PAIRED, ("68367000", "Thigh"), "THIGH"),
    _site("knee", "膝部（伸侧）", "front of the knee", _LL, PAIRED, ("72696002", "Knee"), "KNEE"),
    _site(
        "popliteal_fossa", "腘窝", "back of the knee", _LL, PAIRED,
        ("84507004", "Skin of popliteal fossa"), "KNEE",
    ),
    _site("lower_leg", "小腿", "lower leg", _LL, PAIRED, ("30021000", "Lower leg"), "LEG"),
    _site(
        "ankle", "踝部", "ankle", _LL, PAIRED, ("371304004", "Skin of lower extremity"), "ANKLE",
        exact=False,
    ),
    _site(
        "foot_dorsum", "足背", "top of the foot", _LL, PAIRED, ("60496002", "Skin of foot"), "FOOT",
        exact=False,
    ),
    _site(
        "sole", "足底", "sole", _LL, PAIRED, ("60496002", "Skin of foot"), "FOOT", exact=False
    ),
    _site("heel", "足跟", "heel", _LL, PAIRED, ("84607009", "Skin of heel"), "FOOT"),
    _site("toes", "足趾", "toes", _LL, PAIRED, ("52034004", "Skin of toe"), "TOE"),
    _site("toenails", "趾甲", "toenails", _LL, PAIRED, ("770805009", "Nail unit of toe"), "TOE"),
    # perineum, nappy area, genitals
    _site("diaper_area", "尿布区", "nappy area", _PG, UNPAIRED, None),
    _site("perineum", "会阴", "perineum", _PG, UNPAIRED, ("48014002", "Skin of perineum")),
    _site("perianal", "肛周", "around the anus", _PG, UNPAIRED, ("59112000", "Skin of anus")),
    _site(
        "genitals", "外生殖器", "genitals", _PG, UNPAIRED,
        ("60944009", "Skin of external genitalia"),
    ),
)
# fmt: on

BODY_SITES: Mapping[str, BodySite] = MappingProxyType({s.code: s for s in _SITES})
"""Every site by code, in the order the page lists them."""


class InvalidBodySite(ValueError):
    """A (site, laterality, view) the physician cannot have meant; ``code`` is
    stable for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SiteSelection:
    site: BodySite
    laterality: Laterality
    view: View

    @property
    def label_zh(self) -> str:
        side = "" if self.laterality is Laterality.MIDLINE else self.laterality.name_zh
        return f"{side}{self.site.name_zh}（{self.view.name_zh}）"

    @property
    def label_en(self) -> str:
        side = "" if self.laterality is Laterality.MIDLINE else f"{self.laterality.name_en} "
        return f"{side}{self.site.name_en} ({self.view.name_en})"


def body_site(code: str) -> BodySite:
    try:
        return BODY_SITES[code]
    except KeyError:
        raise InvalidBodySite("unknown_site", f"unknown body site {code!r}") from None


def validate_site(site: str, laterality: str | None, view: str) -> SiteSelection:
    """Check a requested (site, laterality, view).  A site with a single
    allowed laterality (nose, perineum...) takes it when none is given; a
    paired site without one is refused rather than guessed."""
    found = body_site(site)
    try:
        chosen_view = View(view)
    except ValueError:
        raise InvalidBodySite("unknown_view", f"unknown view {view!r}") from None
    if laterality is None:
        default = found.default_laterality
        if default is None:
            raise InvalidBodySite(
                "laterality_required", f"{found.code} needs a side: left, right or bilateral"
            )
        return SiteSelection(found, default, chosen_view)
    try:
        side = Laterality(laterality)
    except ValueError:
        raise InvalidBodySite("unknown_laterality", f"unknown laterality {laterality!r}") from None
    if side not in found.lateralities:
        allowed = ", ".join(sorted(found.lateralities))
        raise InvalidBodySite(
            "laterality_not_allowed", f"{found.code} cannot be {side}; allowed: {allowed}"
        )
    return SiteSelection(found, side, chosen_view)

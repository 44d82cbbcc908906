"""The drug catalogue: the shipped data holds together, every name the issue found accepted
is refused, each class is refused, normalisation tricks do not get a name through, and
ordinary drugs (including near-misses of controlled names) pass."""

from __future__ import annotations

import pytest

from server.clinical.drug_catalogue import (
    CATALOGUE_CLASSES,
    CatalogueEntry,
    DrugMatcher,
    compact,
    national_catalogue,
)
from server.clinical.drug_catalogue.catalogue import CatalogueDataError, parse_catalogue
from server.clinical.prescription import PrescriptionItem, catalogue_refusals

CATALOGUE = national_catalogue()
MATCHER = DrugMatcher(CATALOGUE)


def entry_for(drug: str) -> str | None:
    found = MATCHER.find(drug)
    return found[0].entry.generic_name_zh if found else None


# Every name issue 23 found accepted, with the entry that must now refuse it.
ISSUE_NAMES = [
    ("利他林", "哌甲酯"), ("专注达", "哌甲酯"), ("Ritalin", "哌甲酯"),
    ("methylphenidate", "哌甲酯"), ("艾司唑仑", "艾司唑仑"), ("三唑仑", "三唑仑"),
    ("佐匹克隆", "佐匹克隆"), ("sufentanil", "舒芬太尼"), ("remifentanil", "瑞芬太尼"),
    ("布托啡诺", "布托啡诺"), ("鲁米那", "苯巴比妥"), ("phenobarbitone", "苯巴比妥"),
    ("phenobarbital", "苯巴比妥"), ("莫达非尼", "莫达非尼"),
    ("lisdexamfetamine", "赖右苯丙胺"), ("esketamine", "氯胺酮"), ("ketamine", "氯胺酮"),
    ("ｍｏｒｐｈｉｎｅ", "吗啡"), ("吗 啡", "吗啡"),
]


@pytest.mark.parametrize(("drug", "entry"), ISSUE_NAMES)
def test_every_name_the_issue_found_accepted_is_refused(drug, entry):
    assert entry_for(drug) == entry
    item = PrescriptionItem(drug=drug, strength="1", dose="1", route="oral", frequency="qd",
                            duration_days=3, quantity="3")
    (refusal,) = catalogue_refusals([item], MATCHER)
    assert refusal.rule == "refuse"
    assert refusal.message(CATALOGUE.version).startswith(f"{drug}: ")
    assert "may not be prescribed online" in refusal.message(CATALOGUE.version)


COMMON_BENZODIAZEPINES_AND_Z_DRUGS = [
    "地西泮", "安定", "阿普唑仑", "劳拉西泮", "氯硝西泮", "咪达唑仑", "硝西泮", "奥沙西泮",
    "氟西泮", "氯氮卓", "氯巴占", "瑞马唑仑", "唑吡坦", "扎来普隆", "右佐匹克隆", "zolpidem",
    "eszopiclone", "clonazepam", "midazolam oromucosal solution", "Xanax",
]
COMMON_OPIOIDS = [
    "吗啡", "可待因", "芬太尼", "哌替啶", "度冷丁", "羟考酮", "氢可酮", "美沙酮", "曲马多",
    "丁丙诺啡", "纳布啡", "喷他佐辛", "tapentadol", "pethidine", "hydromorphone",
    "dihydrocodeine", "oxycodone", "tramadol", "fentanyl transdermal patch",
]
STIMULANTS = ["amphetamine", "dexamfetamine", "Adderall", "Vyvanse", "modafinil", "阿莫达非尼",
              "右哌甲酯", "Concerta"]


@pytest.mark.parametrize("drug", COMMON_BENZODIAZEPINES_AND_Z_DRUGS + COMMON_OPIOIDS
                         + STIMULANTS)
def test_the_common_controlled_drugs_of_a_paediatric_practice_are_refused(drug):
    assert MATCHER.find(drug), drug


# One name per class, each as the lists class it.
CLASS_CASES = [
    ("舒芬太尼", "narcotic"), ("哌甲酯", "psychotropic_1"), ("艾司唑仑", "psychotropic_2"),
    ("A型肉毒毒素", "toxic"), ("生半夏", "toxic"), ("碘[131I]化钠", "radioactive"),
    ("伪麻黄碱", "precursor_chemical"),
]


@pytest.mark.parametrize(("drug", "drug_class"), CLASS_CASES)
def test_each_class_is_refused(drug, drug_class):
    (match,) = MATCHER.find(drug)
    assert match.entry.drug_class == drug_class
    assert match.entry.rule == "refuse"
    assert CATALOGUE.source(match.entry.source) is not None


def test_every_class_of_the_shipped_lists_has_entries():
    shipped = {e.drug_class for e in CATALOGUE.entries}
    assert shipped == set(CATALOGUE_CLASSES) - {"local_restriction"}


NORMALISATION_TRICKS = [
    ("吗 啡", "吗啡"),  # a space inside a Chinese name
    ("吗\u3000啡", "吗啡"),  # an ideographic space
    ("ＭＯＲＰＨＩＮＥ", "吗啡"),  # full-width letters
    ("MoRpHiNe", "吗啡"),  # case
    ("mor-phine", "吗啡"),  # punctuation inside
    ("m o r p h i n e", "吗啡"),  # spaces inside a Latin name
    ("盐酸哌甲酯缓释片", "哌甲酯"),  # salt prefix and dosage form
    ("methylphenidate hydrochloride", "哌甲酯"),  # salt suffix
    ("morphine sulfate", "吗啡"),
    ("酒石酸唑吡坦片", "唑吡坦"),
    ("codeine phosphate syrup", "可待因"),
    ("复方樟脑酊", "阿片"),  # a compound product named in the list
    ("复方可待因口服溶液", "可待因"),  # the product inside a compound name
    ("paracetamol and codeine", "可待因"),  # "X and Y"
    ("paracetamol/codeine", "可待因"),
    ("美扑伪麻片", "伪麻黄碱"),  # the abbreviated component of a compound name
    ("Ritalin®", "哌甲酯"),  # a trademark sign
    ("（利他林）", "哌甲酯"),  # full-width brackets
    ("舒芬太尼", "舒芬太尼"),  # the longer name wins over the one inside it (芬太尼)
    ("bo tox", "A型肉毒毒素"),  # a short brand name written apart
]


@pytest.mark.parametrize(("drug", "entry"), NORMALISATION_TRICKS)
def test_normalisation_tricks_do_not_get_a_name_through(drug, entry):
    assert entry_for(drug) == entry


ORDINARY_DRUGS = [
    "hydrocortisone butyrate cream", "丁酸氢化可的松乳膏", "vitamin D3 drops", "维生素AD滴剂",
    "布洛芬混悬液", "ibuprofen", "对乙酰氨基酚", "氯雷他定糖浆", "cetirizine",
    "阿托品滴眼液",  # the toxic list names atropine as a raw substance only
    "法半夏",  # processed, not the raw 生半夏 of the list
    "apomorphine",  # a Latin name must start where a word starts
    "griseofulvin ultramicrosize",
    "普鲁卡因", "lidocaine", "benzocaine", "安非他酮", "bupropion",
]


@pytest.mark.parametrize("drug", ORDINARY_DRUGS)
def test_ordinary_drugs_pass(drug):
    assert MATCHER.find(drug) == []


def test_a_compound_with_two_controlled_components_names_both():
    names = {m.entry.generic_name_zh for m in MATCHER.find("氨酚羟考酮 and 咖啡因")}
    assert names == {"羟考酮", "咖啡因"}


def test_compact_keeps_letters_and_digits_only():
    assert compact(" Ｃｏ-ｃｏｄａｍｏｌ ®") == "cocodamol"
    assert compact("碘[131I]化钠") == "碘131i化钠"


def test_the_shipped_data_names_its_version_and_every_source():
    assert CATALOGUE.version
    provenance = CATALOGUE.provenance()
    assert provenance["version"] == CATALOGUE.version
    titles = " ".join(provenance["sources"])
    for document in ("麻醉药品品种目录（2013年版）", "精神药品品种目录（2013年版）",
                     "医疗用毒性药品管理办法", "放射性药品管理办法", "药品类易制毒化学品管理办法",
                     "互联网诊疗管理办法（试行）第十九条"):
        assert document in titles
    used = {e.source for e in CATALOGUE.entries}
    assert used <= {s.id for s in CATALOGUE.sources}


def test_a_local_entry_extends_the_catalogue():
    local = CatalogueEntry(generic_name_zh="本院限制药", inn="restrictol",
                           drug_class="local_restriction", rule="offline_only",
                           source="local", aliases=("RX-LOCAL-1",), local_id=7)
    merged = CATALOGUE.with_local([local])
    assert merged.local_entry_ids == (7,)
    item = PrescriptionItem(drug="restrictol 5 mg", strength="5 mg", dose="1", route="oral",
                            frequency="qd", duration_days=3, quantity="3")
    assert catalogue_refusals([item], DrugMatcher(CATALOGUE)) == []
    (refusal,) = catalogue_refusals([item], DrugMatcher(merged))
    assert refusal.rule == "offline_only"
    assert "in-person visit" in refusal.message(merged.version)
    assert refusal.audit()["matched"][0]["local_id"] == 7


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["entries"][0].update({"class": "sedative"}), "unknown class"),
    (lambda d: d["entries"][0].update({"source": "nowhere"}), "unknown source"),
    (lambda d: d["entries"][0].update({"colour": "red"}), "unknown keys"),
    (lambda d: d["entries"][0].update({"rule": "maybe"}), "unknown rule"),
    (lambda d: d["entries"].append(dict(d["entries"][0])), "appears twice"),
])
def test_contradictory_data_is_refused_when_loaded(change, problem):
    import tomllib
    from importlib import resources

    data = tomllib.loads(resources.files("server.clinical.drug_catalogue")
                         .joinpath("national.toml").read_text("utf-8"))
    change(data)
    with pytest.raises(CatalogueDataError, match=problem):
        parse_catalogue(data)


def test_typing_offers_the_catalogue_names_with_their_class():
    from server.clinical.drug_catalogue.suggestions import suggestions

    offered = suggestions(CATALOGUE, "利他")
    assert [s.name for s in offered] == ["利他林"]
    assert (offered[0].generic_name_zh, offered[0].class_zh, offered[0].rule) == (
        "哌甲酯", "第一类精神药品", "refuse")
    names = [s.name for s in suggestions(CATALOGUE, "芬太尼")]
    assert names[0] == "芬太尼" and {"舒芬太尼", "瑞芬太尼", "阿芬太尼"} <= set(names)
    assert [s.name for s in suggestions(CATALOGUE, "ＳＵＦＥＮ")] == ["sufentanil"]
    assert suggestions(CATALOGUE, " - ") == []
    assert len(suggestions(CATALOGUE, "a", limit=5)) == 5

"""The drug catalogue: the shipped data holds together, every name the issue found accepted
is refused, each class is refused, normalisation tricks do not get a name through, and
ordinary drugs (including near-misses of controlled names) pass."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from server.clinical.drug_catalogue import (
    CATALOGUE_CLASSES,
    CatalogueEntry,
    DrugMatcher,
    compact,
    national_catalogue,
)
from server.clinical.drug_catalogue.catalogue import CatalogueDataError, parse_catalogue
from server.clinical.drug_catalogue.suggestions import suggestions
from server.clinical.prescription import PrescriptionItem, catalogue_refusals


def shipped_data() -> dict:
    return tomllib.loads(resources.files("server.clinical.drug_catalogue")
                         .joinpath("national.toml").read_text("utf-8"))


@pytest.fixture
def catalogue():
    """The shipped data parsed afresh for each test (not the cached copy), so that every
    test exercises the parsing it relies on."""
    return parse_catalogue(shipped_data())


@pytest.fixture
def matcher(catalogue):
    return DrugMatcher(catalogue)


def entry_for(matcher, drug: str) -> str | None:
    found = matcher.find(drug)
    return found[0].entry.generic_name_zh if found else None


def test_the_cached_catalogue_is_the_shipped_data(catalogue):
    assert national_catalogue() == catalogue


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
def test_every_name_the_issue_found_accepted_is_refused(catalogue, matcher, drug, entry):
    assert entry_for(matcher, drug) == entry
    item = PrescriptionItem(drug=drug, strength="1", dose="1", route="oral", frequency="qd",
                            duration_days=3, quantity="3")
    (refusal,) = catalogue_refusals([item], matcher)
    assert refusal.rule == "refuse"
    assert refusal.message(catalogue.version).startswith(f"{drug}: ")
    assert "may not be prescribed online" in refusal.message(catalogue.version)


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
def test_the_common_controlled_drugs_of_a_paediatric_practice_are_refused(matcher, drug):
    assert matcher.find(drug), drug


# One name per class, each as the lists class it.
CLASS_CASES = [
    ("舒芬太尼", "narcotic"), ("哌甲酯", "psychotropic_1"), ("艾司唑仑", "psychotropic_2"),
    ("A型肉毒毒素", "toxic"), ("生半夏", "toxic"), ("碘[131I]化钠", "radioactive"),
    ("伪麻黄碱", "precursor_chemical"),
]


@pytest.mark.parametrize(("drug", "drug_class"), CLASS_CASES)
def test_each_class_is_refused(catalogue, matcher, drug, drug_class):
    (match,) = matcher.find(drug)
    assert match.entry.drug_class == drug_class
    assert match.entry.rule == "refuse"
    assert catalogue.source(match.entry.source) is not None


def test_every_class_of_the_shipped_lists_has_entries(catalogue):
    shipped = {e.drug_class for e in catalogue.entries}
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
    ("Botox 100U", "A型肉毒毒素"),  # a short name ends where a space follows
    ("Xanax片", "阿普唑仑"),  # … or where Chinese follows
    ("Valium10mg", "地西泮"),  # a name of six letters or more need not end a word
    ("麦角胺咖啡因片", "咖啡因"),  # the longer name wins at the same start (not 麦角胺)
]


@pytest.mark.parametrize(("drug", "entry"), NORMALISATION_TRICKS)
def test_normalisation_tricks_do_not_get_a_name_through(matcher, drug, entry):
    assert entry_for(matcher, drug) == entry


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
def test_ordinary_drugs_pass(matcher, drug):
    assert matcher.find(drug) == []


def test_a_listed_name_inside_a_longer_one_still_counts_where_it_stands_alone(matcher):
    found = matcher.find("芬太尼 and 舒芬太尼")
    assert [(m.entry.generic_name_zh, m.name, m.start, m.end) for m in found] == [
        ("芬太尼", "芬太尼", 0, 3), ("舒芬太尼", "舒芬太尼", 6, 10)]
    assert [m.entry.generic_name_zh for m in matcher.find("麦角胺咖啡因")] == ["咖啡因"]


def test_short_latin_names_need_a_whole_word(matcher):
    assert matcher.find("Botoxin") == []  # not "Botox" + more letters
    assert matcher.find("Xanaxol") == []
    assert matcher.find("Xanax-like")[0].entry.generic_name_zh == "阿普唑仑"


def test_a_compound_with_two_controlled_components_names_both(matcher):
    names = {m.entry.generic_name_zh for m in matcher.find("氨酚羟考酮 and 咖啡因")}
    assert names == {"羟考酮", "咖啡因"}


def test_compact_keeps_letters_and_digits_only():
    assert compact(" Ｃｏ-ｃｏｄａｍｏｌ ®") == "cocodamol"
    assert compact("碘[131I]化钠") == "碘131i化钠"


def test_a_source_is_cited_with_its_issuer_reference_and_date(catalogue):
    source = catalogue.source("narcotic_2013")
    assert source.citation() == ("麻醉药品品种目录（2013年版）（国家食品药品监督管理总局、公安部、"
                                 "国家卫生和计划生育委员会，食药监药化监〔2013〕230号，2013-11-11）")
    unnumbered = catalogue.source("adjustment_2024")
    assert unnumbered.citation().endswith("（国家药品监督管理局、公安部、国家卫生健康委员会，"
                                          "2024-07-01）")
    assert catalogue.source("nowhere") is None


def test_an_entry_reads_every_field_of_the_data(catalogue):
    (entry,) = [e for e in catalogue.entries if e.generic_name_zh == "哌甲酯"]
    assert (entry.inn, entry.drug_class, entry.rule, entry.source) == (
        "methylphenidate", "psychotropic_1", "refuse", "psychotropic_2013")
    assert entry.salts == ("盐酸", "hydrochloride")
    assert entry.aliases[:3] == ("哌醋甲酯", "利他林", "专注达")
    assert entry.note.startswith("右哌甲酯")
    assert entry.local_id is None
    assert entry.names()[:2] == ("哌甲酯", "methylphenidate")
    (plain,) = [e for e in catalogue.entries if e.generic_name_zh == "福尔可定"]
    assert (plain.aliases, plain.salts, plain.note) == ((), (), "")
    assert catalogue.classes["psychotropic_1"].zh == "第一类精神药品"
    assert catalogue.classes["local_restriction"].rule == "offline_only"


def test_an_entry_may_set_its_own_rule_and_needs_both_names():
    data = shipped_data()
    data["entries"][0]["rule"] = "offline_only"
    assert parse_catalogue(data).entries[0].rule == "offline_only"
    for name in ("zh", "inn"):
        broken = shipped_data()
        broken["entries"][0][name] = " "
        with pytest.raises(CatalogueDataError, match="Chinese generic name and INN"):
            parse_catalogue(broken)
    classes = shipped_data()
    del classes["classes"]["toxic"]
    with pytest.raises(CatalogueDataError, match="classes must be exactly"):
        parse_catalogue(classes)


def test_the_refusal_says_what_the_audit_log_keeps(catalogue, matcher):
    item = PrescriptionItem(drug="利他林", strength="10 mg", dose="1", route="oral",
                            frequency="qd", duration_days=3, quantity="3")
    (refusal,) = catalogue_refusals([item, item.model_copy(update={"drug": "ibuprofen"})],
                                    matcher)
    assert refusal.message("V1") == ("利他林: narcotic and psychotropic drugs may not be "
                                     "prescribed online — 哌甲酯 (methylphenidate, "
                                     "psychotropic_1); drug catalogue V1")
    assert refusal.audit() == {"index": 0, "drug": "利他林", "rule": "refuse", "matched": [
        {"name": "利他林", "generic_name_zh": "哌甲酯", "inn": "methylphenidate",
         "class": "psychotropic_1", "rule": "refuse", "source": "psychotropic_2013",
         "local_id": None}]}
    toxic = catalogue_refusals([item.model_copy(update={"drug": "Botox"})], matcher)[0]
    assert toxic.message("V1").startswith("Botox: toxic drugs may not be prescribed online")
    assert catalogue.provenance() == {"version": catalogue.version,
                                      "sources": [s.citation() for s in catalogue.sources],
                                      "local_entry_ids": []}


def test_the_shipped_data_names_its_version_and_every_source(catalogue):
    assert catalogue.version
    provenance = catalogue.provenance()
    assert provenance["version"] == catalogue.version
    titles = " ".join(provenance["sources"])
    for document in ("麻醉药品品种目录（2013年版）", "精神药品品种目录（2013年版）",
                     "医疗用毒性药品管理办法", "放射性药品管理办法", "药品类易制毒化学品管理办法",
                     "互联网诊疗管理办法（试行）第十九条"):
        assert document in titles
    used = {e.source for e in catalogue.entries}
    assert used <= {s.id for s in catalogue.sources}


def test_a_local_entry_extends_the_catalogue(catalogue):
    local = CatalogueEntry(generic_name_zh="本院限制药", inn="restrictol",
                           drug_class="local_restriction", rule="offline_only",
                           source="local", aliases=("RX-LOCAL-1",), local_id=7)
    merged = catalogue.with_local([local])
    assert merged.local_entry_ids == (7,)
    item = PrescriptionItem(drug="restrictol 5 mg", strength="5 mg", dose="1", route="oral",
                            frequency="qd", duration_days=3, quantity="3")
    assert catalogue_refusals([item], DrugMatcher(catalogue)) == []
    (refusal,) = catalogue_refusals([item], DrugMatcher(merged))
    assert refusal.rule == "offline_only"
    assert "in-person visit" in refusal.message(merged.version)
    assert refusal.audit()["matched"][0]["local_id"] == 7


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["entries"][0].update({"class": "sedative"}), "^吗啡: unknown class 'sedative'$"),
    (lambda d: d["entries"][0].update({"source": "nowhere"}), "^吗啡: unknown source 'nowhere'$"),
    (lambda d: d["entries"][0].update({"colour": "red"}), r"^吗啡: unknown keys \['colour'\]$"),
    (lambda d: d["entries"][0].update({"rule": "maybe"}), "^吗啡: unknown rule 'maybe'$"),
    (lambda d: d["entries"][0].pop("zh"), r"^\?: an entry needs its Chinese generic name"),
    (lambda d: d["entries"][0].pop("inn"), "^吗啡: an entry needs its Chinese generic name"),
    (lambda d: d["entries"].append(dict(d["entries"][0])),
     "^an entry's Chinese generic name appears twice$"),
])
def test_contradictory_data_is_refused_when_loaded(change, problem):
    data = shipped_data()
    change(data)
    with pytest.raises(CatalogueDataError, match=problem):
        parse_catalogue(data)


def test_typing_offers_the_catalogue_names_with_their_class(catalogue):
    offered = suggestions(catalogue, "利他")
    assert [s.name for s in offered] == ["利他林"]
    assert (offered[0].generic_name_zh, offered[0].class_zh, offered[0].rule) == (
        "哌甲酯", "第一类精神药品", "refuse")
    names = [s.name for s in suggestions(catalogue, "芬太尼")]
    assert names[0] == "芬太尼" and {"舒芬太尼", "瑞芬太尼", "阿芬太尼"} <= set(names)
    assert [s.name for s in suggestions(catalogue, "ＳＵＦＥＮ")] == ["sufentanil"]
    assert suggestions(catalogue, " - ") == []
    assert len(suggestions(catalogue, "a", limit=5)) == 5
    assert len(suggestions(catalogue, "a")) == 20  # the default page
    (ritalin,) = suggestions(catalogue, "ritalin")
    assert (ritalin.inn, ritalin.drug_class, ritalin.class_en) == (
        "methylphenidate", "psychotropic_1", "class I psychotropic")
    # Names starting with what was typed come first, then the shortest.
    assert [s.name for s in suggestions(catalogue, "巴比妥")][:2] == ["巴比妥", "戊巴比妥"]
    assert [s.name for s in suggestions(catalogue, "可待因")] == [
        "可待因", "二氢可待因", "双氢可待因"]
    # The same name twice in the catalogue is offered once (安定 is inside 舒乐安定 too).
    names = [s.name for s in suggestions(catalogue, "安定")]
    assert len(names) == len(set(names))


def test_optional_keys_of_the_data_may_be_left_out():
    data = shipped_data()
    data["entries"][0].pop("aliases")
    data["entries"][0].pop("salts")
    data["sources"][0].pop("reference")
    catalogue = parse_catalogue(data)
    assert (catalogue.entries[0].aliases, catalogue.entries[0].salts) == ((), ())
    assert catalogue.sources[0].reference == ""


def test_suggestions_put_names_starting_with_the_typed_text_first(catalogue):
    # "Elvanse" starts with e; "Xeomin" is shorter but only contains it.
    assert suggestions(catalogue, "e")[0].name == "Elvanse"
    assert compact(suggestions(catalogue, "A")[0].name).startswith("a")


def test_a_name_in_both_the_shipped_and_the_local_entries_is_offered_once(catalogue):
    local = CatalogueEntry(generic_name_zh="哌甲酯", inn="methylphenidate",
                           drug_class="local_restriction", rule="refuse", source="local",
                           aliases=("利他林",), local_id=1)
    assert [s.name for s in suggestions(catalogue.with_local([local]), "利他林")] == ["利他林"]


def test_a_refusal_names_every_entry_in_one_item_and_any_class(catalogue, matcher):
    item = PrescriptionItem(drug="氨酚羟考酮 and 咖啡因", strength="1", dose="1", route="oral",
                            frequency="qd", duration_days=3, quantity="3")
    (refusal,) = catalogue_refusals([item], matcher)
    assert refusal.message("V") == (
        "氨酚羟考酮 and 咖啡因: narcotic and psychotropic drugs may not be prescribed online "
        "— 羟考酮 (oxycodone, narcotic), 咖啡因 (caffeine, psychotropic_2); drug catalogue V")
    local = CatalogueEntry(generic_name_zh="本院禁用药", inn="forbiddol",
                           drug_class="local_restriction", rule="refuse", source="local",
                           local_id=3)
    (own,) = catalogue_refusals([item.model_copy(update={"drug": "forbiddol"})],
                                DrugMatcher(catalogue.with_local([local])))
    assert own.message("V").startswith(
        "forbiddol: local_restriction drugs may not be prescribed online")

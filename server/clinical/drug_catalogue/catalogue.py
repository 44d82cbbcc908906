"""The drug catalogue as data: the national lists shipped with the package (national.toml,
versioned), plus the hospital's local entries from the database, merged into one
:class:`DrugCatalogue` that the prescription check reads."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal, get_args

CatalogueClass = Literal["narcotic", "psychotropic_1", "psychotropic_2", "toxic",
                         "radioactive", "precursor_chemical", "local_restriction"]
Rule = Literal["refuse", "offline_only"]
CATALOGUE_CLASSES: tuple[str, ...] = get_args(CatalogueClass)
RULES: tuple[str, ...] = get_args(Rule)
LOCAL_SOURCE = "local"
"""The source id of every entry the hospital added itself."""


class CatalogueDataError(ValueError):
    """The shipped data file contradicts itself: found when it is first loaded."""


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    issuer: str
    reference: str
    date: str

    def citation(self) -> str:
        reference = f"，{self.reference}" if self.reference else ""
        return f"{self.title}（{self.issuer}{reference}，{self.date}）"


@dataclass(frozen=True)
class ClassRule:
    code: str
    zh: str
    en: str
    rule: Rule


@dataclass(frozen=True)
class CatalogueEntry:
    generic_name_zh: str
    inn: str
    drug_class: str
    rule: Rule
    source: str
    aliases: tuple[str, ...] = ()
    salts: tuple[str, ...] = ()
    note: str = ""
    local_id: int | None = None  # set for the hospital's own entries

    def names(self) -> tuple[str, ...]:
        """Every name the entry is known by; salts need none (they surround the name)."""
        return (self.generic_name_zh, self.inn, *self.aliases)


@dataclass(frozen=True)
class DrugCatalogue:
    version: str
    sources: tuple[Source, ...]
    classes: Mapping[str, ClassRule]
    entries: tuple[CatalogueEntry, ...]
    local_entry_ids: tuple[int, ...] = field(default=())

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def with_local(self, local: Iterable[CatalogueEntry]) -> DrugCatalogue:
        """The shipped catalogue extended by the hospital's entries (never narrowed:
        a local entry can add a refusal, not lift one)."""
        added = tuple(local)
        return replace(self, entries=self.entries + added,
                       local_entry_ids=tuple(e.local_id for e in added
                                             if e.local_id is not None))

    def provenance(self) -> dict[str, Any]:
        """What a refusal's audit entry says about the catalogue that decided it."""
        return {"version": self.version,
                "sources": [s.citation() for s in self.sources],
                "local_entry_ids": list(self.local_entry_ids)}


def _entry(raw: Mapping[str, Any], classes: Mapping[str, ClassRule],
           source_ids: set[str]) -> CatalogueEntry:
    known = {"zh", "inn", "class", "source", "aliases", "salts", "note", "rule"}
    unknown = set(raw) - known
    name = raw.get("zh", "?")
    if unknown:
        raise CatalogueDataError(f"{name}: unknown keys {sorted(unknown)}")
    if raw.get("class") not in classes:
        raise CatalogueDataError(f"{name}: unknown class {raw.get('class')!r}")
    if raw.get("source") not in source_ids:
        raise CatalogueDataError(f"{name}: unknown source {raw.get('source')!r}")
    rule = raw.get("rule", classes[raw["class"]].rule)
    if rule not in RULES:
        raise CatalogueDataError(f"{name}: unknown rule {rule!r}")
    if not str(raw.get("zh", "")).strip() or not str(raw.get("inn", "")).strip():
        raise CatalogueDataError(f"{name}: an entry needs its Chinese generic name and INN")
    return CatalogueEntry(generic_name_zh=raw["zh"], inn=raw["inn"], drug_class=raw["class"],
                          rule=rule, source=raw["source"],
                          aliases=tuple(raw.get("aliases", ())),
                          salts=tuple(raw.get("salts", ())), note=raw.get("note", ""))


def parse_catalogue(data: Mapping[str, Any]) -> DrugCatalogue:
    sources = tuple(Source(id=s["id"], title=s["title"], issuer=s["issuer"],
                           reference=s.get("reference", ""), date=s["date"])
                    for s in data["sources"])
    classes = {code: ClassRule(code, c["zh"], c["en"], c["rule"])
               for code, c in data["classes"].items()}
    if set(classes) != set(CATALOGUE_CLASSES):
        raise CatalogueDataError(f"the classes must be exactly {CATALOGUE_CLASSES}")
    source_ids = {s.id for s in sources}
    entries = tuple(_entry(raw, classes, source_ids) for raw in data["entries"])
    names = [e.generic_name_zh for e in entries]
    if len(names) != len(set(names)):
        raise CatalogueDataError("an entry's Chinese generic name appears twice")
    return DrugCatalogue(version=str(data["version"]), sources=sources, classes=classes,
                         entries=entries)


@functools.cache
def national_catalogue() -> DrugCatalogue:
    """The catalogue shipped in this package (read once)."""
    text = resources.files(__package__).joinpath("national.toml").read_text("utf-8")
    return parse_catalogue(tomllib.loads(text))

"""Names of the catalogue offered while a physician types a drug, each with its class and
rule, so a controlled drug is recognised before the prescription is sent (the free text is
still checked when it is)."""

from __future__ import annotations

from dataclasses import dataclass

from server.clinical.drug_catalogue.catalogue import DrugCatalogue
from server.clinical.drug_catalogue.matching import compact


@dataclass(frozen=True)
class Suggestion:
    name: str
    generic_name_zh: str
    inn: str
    drug_class: str
    class_zh: str
    class_en: str
    rule: str


def suggestions(catalogue: DrugCatalogue, typed: str, limit: int = 20) -> list[Suggestion]:
    """Catalogue names containing what was typed (compared as matching.py compares),
    names that start with it first, then shorter names first."""
    wanted = compact(typed)
    if not wanted:
        return []
    found: list[tuple[int, int, str, Suggestion]] = []
    seen: set[str] = set()
    for entry in catalogue.entries:
        rule = catalogue.classes[entry.drug_class]
        for name in entry.names():
            key = compact(name)
            at = key.find(wanted)
            if at == -1 or key in seen:
                continue
            seen.add(key)
            found.append((0 if at == 0 else 1, len(key), name, Suggestion(
                name, entry.generic_name_zh, entry.inn, entry.drug_class, rule.zh, rule.en,
                entry.rule)))
    found.sort(key=lambda f: f[:3])
    return [f[3] for f in found[:limit]]

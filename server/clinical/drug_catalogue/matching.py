"""Finding catalogue entries in a drug name as a physician types it.

A name is compared after NFKC (full-width letters and digits become ASCII), case folding,
and with everything that is neither a letter nor a digit taken out (spaces, punctuation,
brackets, ® and ™): "吗 啡", "ＭＯＲＰＨＩＮＥ" and "mor-phine" are all "morphine"/"吗啡".
A catalogue name is then looked for *inside* the prescribed name, so salts (盐酸…,
…hydrochloride), dosage forms (…缓释片) and compound products (复方…, "X and Y") are
caught without an entry of their own.

Latin names must start where a word starts ("apomorphine" is not "morphine"), and Latin
names shorter than six letters must also end where a word ends ("Botox", "131I"), so that
a brand name never matches inside an unrelated word.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from server.clinical.drug_catalogue.catalogue import CatalogueEntry, DrugCatalogue

SHORT_LATIN = 6


def folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _kept(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class CompactName:
    """A name reduced to its letters and digits, knowing where its Latin words begin and
    end (as positions in the reduced text)."""

    text: str
    word_starts: frozenset[int]
    word_ends: frozenset[int]

    @classmethod
    def of(cls, name: str) -> CompactName:
        source = folded(name)
        kept: list[str] = []
        starts: set[int] = set()
        ends: set[int] = set()
        previous = ""
        for char in source:
            if not _kept(char):
                if previous and _latin(previous):
                    ends.add(len(kept))
                previous = char
                continue
            if _latin(char) and not (previous and _latin(previous)):
                starts.add(len(kept))
            if previous and _latin(previous) and not _latin(char):
                ends.add(len(kept))
            kept.append(char)
            previous = char
        if previous and _latin(previous):
            ends.add(len(kept))
        return cls("".join(kept), frozenset(starts), frozenset(ends))


def compact(name: str) -> str:
    return CompactName.of(name).text


@dataclass(frozen=True)
class CatalogueMatch:
    entry: CatalogueEntry
    name: str  # the catalogue's name that was found, as the catalogue writes it
    start: int
    end: int


@dataclass(frozen=True)
class _Key:
    text: str
    latin: bool
    entry: CatalogueEntry
    name: str


class DrugMatcher:
    """Every name of a catalogue, ready to be looked for in prescribed names."""

    def __init__(self, catalogue: DrugCatalogue) -> None:
        keys: list[_Key] = []
        for entry in catalogue.entries:
            for name in entry.names():
                text = compact(name)
                if text:
                    keys.append(_Key(text, text.isascii(), entry, name))
        self._keys = tuple(keys)

    def find(self, drug: str) -> list[CatalogueMatch]:
        """The entries named in `drug`, one match per entry; a name found only inside a
        longer catalogue name ("芬太尼" in "舒芬太尼") gives way to the longer one."""
        name = CompactName.of(drug)
        hits = [hit for key in self._keys if (hit := self._first_hit(key, name)) is not None]
        widest = [h for h in hits if not any(
            o.start <= h.start and h.end <= o.end and (o.end - o.start) > (h.end - h.start)
            for o in hits)]
        found: dict[int, CatalogueMatch] = {}
        for hit in sorted(widest, key=lambda h: (h.start, h.start - h.end)):
            found.setdefault(id(hit.entry), hit)
        return list(found.values())

    @staticmethod
    def _first_hit(key: _Key, name: CompactName) -> CatalogueMatch | None:
        at = name.text.find(key.text)
        while at != -1:
            end = at + len(key.text)
            if not key.latin or (at in name.word_starts and (
                    len(key.text) >= SHORT_LATIN or end in name.word_ends)):
                return CatalogueMatch(key.entry, key.name, at, end)
            at = name.text.find(key.text, at + 1)
        return None

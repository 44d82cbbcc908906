import dataclasses
import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.kernel.audit_log import (
    GENESIS_HASH,
    Actor,
    AuditEntry,
    ChainChecker,
    ChainVerdict,
    canonical_json,
    entry_hash,
    verify_entries,
)


def chain(n: int) -> list[AuditEntry]:
    entries, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        fields = dict(seq=seq, at=f"2026-11-20T02:00:0{seq % 10}.000000+00:00",
                      actor_role="admin", actor_id="alice", action="test.event",
                      consult_id=None, details=canonical_json({"n": seq, "名": "张三"}),
                      prev_hash=prev)
        digest = entry_hash(**fields)
        entries.append(AuditEntry(**fields, hash=digest))
        prev = digest
    return entries


def head(entries):
    return (len(entries), entries[-1].hash if entries else GENESIS_HASH)


def test_an_untouched_chain_verifies():
    entries = chain(5)
    verdict = verify_entries(entries, head(entries))
    assert verdict.ok and verdict.entries_checked == 5


def test_an_edited_detail_is_found_at_its_entry():
    entries = chain(5)
    entries[2] = dataclasses.replace(entries[2], details=canonical_json({"n": 99}))
    verdict = verify_entries(entries, head(chain(5)))
    assert not verdict.ok and verdict.first_broken_seq == 3 and "altered" in verdict.problem


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link():
    entries = chain(5)
    forged = dataclasses.replace(entries[1], actor_id="mallory")
    fields = {k: v for k, v in dataclasses.asdict(forged).items() if k != "hash"}
    entries[1] = dataclasses.replace(forged, hash=entry_hash(**fields))
    verdict = verify_entries(entries, head(chain(5)))
    assert not verdict.ok and verdict.first_broken_seq == 3


def test_a_deleted_entry_is_found():
    entries = chain(5)
    del entries[1]
    verdict = verify_entries(entries, head(chain(5)))
    assert not verdict.ok and verdict.first_broken_seq == 2 and "missing" in verdict.problem


def test_reordered_entries_are_found():
    entries = chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    assert not verify_entries(entries, head(chain(5))).ok


def test_entries_cut_off_the_end_are_found_through_the_head():
    entries = chain(5)
    verdict = verify_entries(entries[:3], head(entries))
    assert not verdict.ok and "cut off" in verdict.problem


def test_canonical_json_is_independent_of_key_order():
    assert canonical_json({"b": 1, "a": "张"}) == canonical_json({"a": "张", "b": 1}) == \
        '{"a":"张","b":1}'


# -- the hash itself: a known answer, and every hashed field counts ---------------------------

KNOWN_ENTRY = dict(
    seq=42, at="2026-11-20T02:41:07.250000+00:00", actor_role="physician",
    actor_id="d2f1c0a4-physician", action="consult.ended",
    consult_id="6f0e3c2a-9b1d-4e57-8a60-2c4f5b7d9e13",
    details='{"from":"in_call","outcome":"referred","备注":"转皮肤科"}', prev_hash="5e" * 32)
# The documented form (server/kernel/audit_log.py), written out by hand: keys sorted, no
# whitespace, non-ASCII as itself, `details` a JSON string inside the object.
KNOWN_MATERIAL = (
    '{"action":"consult.ended","actor_id":"d2f1c0a4-physician","actor_role":"physician",'
    '"at":"2026-11-20T02:41:07.250000+00:00",'
    '"consult_id":"6f0e3c2a-9b1d-4e57-8a60-2c4f5b7d9e13",'
    '"details":"{\\"from\\":\\"in_call\\",\\"outcome\\":\\"referred\\",'
    '\\"备注\\":\\"转皮肤科\\"}",'
    '"prev_hash":"' + "5e" * 32 + '","seq":42}')
KNOWN_HASH = "266f08015c74d422a624c65e3e9bd65f24440e272c7d84386021dd0699d3521c"


def test_the_hash_of_a_known_entry_is_the_known_digest():
    assert hashlib.sha256(KNOWN_MATERIAL.encode("utf-8")).hexdigest() == KNOWN_HASH
    assert entry_hash(**KNOWN_ENTRY) == KNOWN_HASH


def test_an_entry_without_a_consult_hashes_null():
    material = KNOWN_MATERIAL.replace('"6f0e3c2a-9b1d-4e57-8a60-2c4f5b7d9e13"', "null")
    assert entry_hash(**{**KNOWN_ENTRY, "consult_id": None}) == hashlib.sha256(
        material.encode("utf-8")).hexdigest()


CHANGED = {"seq": 43, "at": "2026-11-20T02:41:07.250001+00:00", "actor_role": "admin",
           "actor_id": "mallory", "action": "consult.cancelled", "consult_id": None,
           "details": '{"from":"in_call","outcome":"completed","备注":"转皮肤科"}',
           "prev_hash": "5e" * 31 + "5f"}


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_changing_any_hashed_field_changes_the_hash(field):
    assert set(CHANGED) == set(KNOWN_ENTRY)  # every field of the entry is hashed
    assert entry_hash(**{**KNOWN_ENTRY, field: CHANGED[field]}) != KNOWN_HASH


# -- canonical JSON -------------------------------------------------------------------------

def test_canonical_json_writes_dates_times_and_sets_one_way():
    beijing = timezone(timedelta(hours=8))
    assert canonical_json({"at": datetime(2026, 11, 20, 10, 0, tzinfo=beijing),
                           "on": date(2026, 11, 20), "roles": {"physician", "guardian"},
                           "ids": frozenset({3, 1, 2})}) == (
        '{"at":"2026-11-20T02:00:00+00:00","ids":[1,2,3],"on":"2026-11-20",'
        '"roles":["guardian","physician"]}')




def test_canonical_json_writes_times_in_utc_whatever_the_hosts_zone(server_in_beijing):
    assert canonical_json([datetime(2026, 11, 20, 2, 0, tzinfo=UTC)]) == (
        '["2026-11-20T02:00:00+00:00"]')


def test_canonical_json_refuses_what_it_cannot_write_and_names_it():
    with pytest.raises(TypeError, match=r"^cannot put bytes into an audit entry$"):
        canonical_json({"raw": b"\x00"})


# -- actors and entries -----------------------------------------------------------------------

def test_the_system_actor_names_its_component():
    assert Actor.system() == Actor("system", "shouzhen")
    assert Actor.system("retention") == Actor("system", "retention")


def test_an_entrys_details_read_back_as_a_dict():
    entry = AuditEntry(**KNOWN_ENTRY, hash=KNOWN_HASH)
    assert entry.details_dict() == {"from": "in_call", "outcome": "referred", "备注": "转皮肤科"}


# -- the checker's verdicts, field by field ----------------------------------------------------

def test_a_broken_link_is_named_and_counts_only_the_entries_before_it():
    entries = chain(4)
    entries[2] = dataclasses.replace(entries[2], prev_hash="0" * 63 + "1")
    verdict = verify_entries(entries, head(chain(4)))
    assert verdict == ChainVerdict(False, 2, 3, "entry 3 does not link to the entry before it")


def test_an_altered_entry_is_named_with_its_sequence_number():
    entries = chain(3)
    entries[0] = dataclasses.replace(entries[0], action="test.other")
    assert verify_entries(entries) == ChainVerdict(
        False, 0, 1, "entry 1 was altered: its content no longer matches its hash")


def test_a_missing_entry_is_named_with_what_was_found_in_its_place():
    entries = chain(3)
    assert verify_entries([entries[0], entries[2]]) == ChainVerdict(
        False, 1, 2, "entry 2 is missing or out of order (found 3 in its place)")


def test_once_broken_the_checker_takes_nothing_more():
    entries = chain(3)
    checker = ChainChecker()
    assert checker.feed(dataclasses.replace(entries[0], hash="f" * 64)) is False
    assert checker.feed(entries[0]) is False and checker.feed(entries[1]) is False
    assert checker.verdict().first_broken_seq == 1 and checker.checked == 0


def test_a_head_counting_more_entries_than_present_means_a_cut_off_end():
    entries = chain(3)
    assert verify_entries(entries[:2], head(entries)) == ChainVerdict(
        False, 2, 3, "the chain head records 3 entries but 2 are present: entries were cut off "
        "the end")
    assert verify_entries([], (3, entries[-1].hash)) == ChainVerdict(
        False, 0, 1, "the chain head records 3 entries but 0 are present: entries were cut off "
        "the end")


def test_a_head_with_another_last_hash_fails_even_when_the_count_agrees():
    entries = chain(3)
    verdict = verify_entries(entries, (3, "e" * 64))
    assert verdict.ok is False and verdict.first_broken_seq == 4


def test_an_empty_chain_with_an_empty_head_verifies():
    assert verify_entries([], (0, GENESIS_HASH)) == ChainVerdict(True, 0)
    assert ChainVerdict(True, 2).to_dict() == {"ok": True, "entries_checked": 2,
                                               "first_broken_seq": None, "problem": None}


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_edit_is_found_at_or_before_the_next_entry(n, data):
    entries = chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["at", "actor_role", "actor_id", "action", "details"]))
    entries[index] = dataclasses.replace(entries[index], **{field: "edited"})
    verdict = verify_entries(entries, head(chain(n)))
    assert not verdict.ok and verdict.first_broken_seq == index + 1

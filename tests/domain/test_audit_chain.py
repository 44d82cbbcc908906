import dataclasses

from server.kernel.audit_log import (
    GENESIS_HASH,
    AuditEntry,
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

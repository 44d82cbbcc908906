"""The refusal ledger's counting rules, without I/O: the first of a window written at once,
the rest counted and handed over when the window closes, anonymous addresses rate-limited,
memory bounded, and a count that could not be written never dropped."""

from datetime import UTC, datetime, timedelta

from server.kernel.audit_log import Actor
from server.kernel.refusal_ledger import MANY_SOURCES, Refusal, RefusalWindows

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def anonymous(address: str = "203.0.113.7", reason: str = "unauthenticated",
              target: str = "GET /api/consults", path: str = "/api/consults") -> Refusal:
    return Refusal.of("access.refused", Actor("anonymous", address), target=target,
                      reason=reason, source=address, details={"path": path})


def staff(reason: str = "forbidden", consult_id: str | None = None) -> Refusal:
    return Refusal.of("access.refused", Actor("admin", "alice"), target="GET /api/replay",
                      reason=reason, source="10.0.0.1", details={}, consult_id=consult_id)


def test_the_first_of_a_window_is_written_and_the_rest_counted_until_it_closes():
    windows = RefusalWindows(window_seconds=60, anonymous_per_minute=30)
    assert windows.note(staff(), 0.0, T0) is True
    for i in range(1, 5):
        assert windows.note(staff(), float(i), T0 + timedelta(seconds=i)) is False
    assert windows.closed(59.9) == []
    (counted,) = windows.closed(60.0)
    assert (counted.count, counted.first_at, counted.last_at) == (
        4, T0 + timedelta(seconds=1), T0 + timedelta(seconds=4))
    assert windows.next_close() is None
    assert windows.note(staff(), 61.0, T0) is True, "a new window writes its first at once"


def test_a_window_with_only_its_first_refusal_closes_without_an_entry():
    windows = RefusalWindows(window_seconds=60, anonymous_per_minute=30)
    assert windows.note(staff(), 0.0, T0)
    assert windows.next_close() == 60.0
    assert windows.closed(0.0, all_of_them=True) == []


def test_kinds_are_counted_apart_but_typed_ids_and_paths_make_no_new_kind():
    windows = RefusalWindows(window_seconds=60, anonymous_per_minute=30)
    assert windows.note(anonymous(path="/api/consults/a"), 0.0, T0)
    assert not windows.note(anonymous(path="/api/consults/b"), 0.0, T0)
    assert windows.note(anonymous(reason="invalid_token"), 0.0, T0)
    assert windows.note(anonymous(target="socket connect"), 0.0, T0)
    assert windows.note(anonymous(address="198.51.100.1"), 0.0, T0)
    assert windows.note(staff(), 0.0, T0)
    assert windows.note(staff(consult_id="c-1"), 0.0, T0), "a credential's consult is a kind"
    anonymous_typed = Refusal.of("access.refused", Actor("anonymous", "203.0.113.7"),
                                 target="GET /api/consults", reason="unauthenticated",
                                 source="203.0.113.7", details={}, consult_id="typed")
    assert not windows.note(anonymous_typed, 0.0, T0), "an anonymous caller's typed id is not"


def test_an_anonymous_address_opens_only_its_budget_of_entries_then_is_only_counted():
    windows = RefusalWindows(window_seconds=1, anonymous_per_minute=3)
    written = [windows.note(anonymous(reason=f"r{i}"), 0.0, T0) for i in range(5)]
    assert written == [True, True, True, False, False]
    assert windows.note(staff(), 0.0, T0), "callers with credentials are not rate-limited"
    assert windows.note(anonymous(address="198.51.100.1"), 0.0, T0), "per address"
    counted = {c.kind.reason: c.count for c in windows.closed(0.0, all_of_them=True)}
    assert counted == {"r3": 1, "r4": 1}, "nothing refused is hidden: the rest are counted"
    assert windows.note(anonymous(reason="r5"), 20.0, T0), "the budget fills back over a minute"


def test_past_the_memory_bound_new_kinds_fold_into_one_per_reason():
    windows = RefusalWindows(window_seconds=60, anonymous_per_minute=1000, max_open=3)
    for i in range(3):
        assert windows.note(anonymous(address=f"192.0.2.{i}"), 0.0, T0)
    for i in range(3, 10):
        assert not windows.note(anonymous(address=f"192.0.2.{i}"), 0.0, T0)
    (folded,) = windows.closed(0.0, all_of_them=True)
    assert (folded.kind.source, folded.kind.actor_id, folded.count) == (
        MANY_SOURCES, MANY_SOURCES, 7)


def test_a_count_that_could_not_be_written_goes_back_into_a_window():
    windows = RefusalWindows(window_seconds=60, anonymous_per_minute=30)
    windows.note(staff(), 0.0, T0)
    windows.note(staff(), 1.0, T0 + timedelta(seconds=1))
    unwritten = windows.closed(60.0)
    windows.note(staff(), 61.0, T0 + timedelta(seconds=61))  # a new window's first
    windows.note(staff(), 62.0, T0 + timedelta(seconds=62))
    windows.reopen(unwritten)
    (counted,) = windows.closed(0.0, all_of_them=True)
    assert (counted.count, counted.first_at, counted.last_at) == (
        2, T0 + timedelta(seconds=1), T0 + timedelta(seconds=62))

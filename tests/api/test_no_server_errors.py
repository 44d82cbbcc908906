"""Inputs an outside security pass found answering 500 (issue 24, finding 5): each one is a
clear 4xx problem document now, never an internal error."""

from __future__ import annotations

import pytest

from server.api.replay_api import RangeNotSatisfiable, parse_range
from tests.conftest import booking_for

HUGE = str(10**20)


def _cases(consult_id: str, physician_id: str) -> list[tuple[str, str, object, dict[str, str],
                                                             str, int]]:
    """(method, path, json body, extra headers, credential, expected status)."""
    return [
        ("GET", f"/api/consults?offset={HUGE}", None, {}, "admin", 400),
        ("GET", f"/api/events?offset={HUGE}", None, {}, "admin", 400),
        ("GET", f"/api/replay/consults?offset={HUGE}", None, {}, "auditor", 400),
        ("GET", f"/api/consults?limit={'9' * 5000}", None, {}, "admin", 400),
        ("GET", "/api/consults?offset=-1", None, {}, "admin", 400),
        ("GET", "/api/replay/consults?to=9999-12-31", None, {}, "auditor", 400),
        ("GET", "/api/replay/consults?from=0001-01-01", None, {}, "auditor", 400),
        ("GET", "/api/reports/quality?from=0001-01-01&to=0001-01-02", None, {}, "admin", 400),
        ("GET", "/api/reports/quality?from=9999-12-30&to=9999-12-31", None, {}, "admin", 400),
        ("GET", f"/api/replay/consults/{consult_id}/recordings/²", None, {}, "auditor", 404),
        ("GET", f"/api/replay/consults/{consult_id}/recordings/١٢", None, {}, "auditor", 404),
        ("PATCH", f"/api/physicians/{physician_id}", {"name": None}, {}, "admin", 422),
        ("PATCH", f"/api/physicians/{physician_id}", {"title": None, "specialties": None},
         {}, "admin", 422),
        ("PATCH", f"/api/physicians/{physician_id}", {"independent_practice_since": None},
         {}, "admin", 422),
    ]


async def test_inputs_that_answered_500_are_refused_with_a_problem_document(
        api, whitelisted_physician) -> None:
    physician_id = (await whitelisted_physician())["id"]
    booked = await api.client.post("/api/consults", json=booking_for(physician_id),
                                   headers=api.admin)
    consult = (await booked.json())["consult"]
    failures = []
    for method, path, body, headers, who, status in _cases(consult["id"], physician_id):
        credential = api.admin if who == "admin" else api.auditor
        response = await api.client.request(method, path, json=body,
                                            headers={**credential, **headers})
        text = await response.text()
        if response.status != status or not response.content_type.startswith(
                "application/problem+json"):
            failures.append(f"{method} {path[:80]} -> {response.status} {text[:200]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("header", [
    "bytes=" + "9" * 5000 + "-",
    "bytes=-" + "9" * 5000,
    "bytes=0-" + "9" * 5000,
    "bytes=²-",
    "bytes=0-١",
])
def test_a_range_header_of_absurd_or_non_ascii_numbers_never_raises_unexpectedly(
        header: str) -> None:
    try:
        parsed = parse_range(header, 1000)
    except RangeNotSatisfiable:
        return
    assert parsed is None or (0 <= parsed.start <= parsed.end < 1000)

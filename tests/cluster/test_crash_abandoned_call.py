"""SIGKILL the server in the middle of a call and restart it: when nobody comes back, the
reconnect grace periods resume from the database and the consult ends as aborted within the
grace period plus a little, with the same alert, audit entries and reschedule request as
without the crash."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from .conftest import Browser, free_port, kill_mid_call, spawn_node, stop, wait_healthy

GRACE_SECONDS = 3
ENV = {"SHOUZHEN_RECONNECT_GRACE_SECONDS": str(GRACE_SECONDS)}


def consult_row(data_dir: Path, consult_id: str) -> tuple[str, str | None]:
    with sqlite3.connect(data_dir / "shouzhen.sqlite3") as db:
        state, outcome = db.execute("SELECT state, outcome FROM consults WHERE id = ?",
                                    (consult_id,)).fetchone()
    return str(state), outcome


async def ended_within(data_dir: Path, consult_id: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        state, _ = consult_row(data_dir, consult_id)
        if state in ("ended", "archived"):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"still {consult_row(data_dir, consult_id)} after {seconds} s")


async def killed_mid_call(data_dir: Path, port: int) -> tuple[str, str]:
    """A consult in call, both connected, when the server is killed: (consult id, physician's
    token)."""
    killed = await kill_mid_call(spawn_node("solo", port, data_dir, ENV), media_seconds=None)
    consult_id = killed.consult_id
    assert consult_row(data_dir, consult_id)[0] == "in_call"
    return consult_id, killed.doctor_token


async def test_a_call_nobody_returns_to_after_a_crash_ends_aborted(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    consult_id, _ = await killed_mid_call(data_dir, port)

    restarted = spawn_node("solo", port, data_dir, ENV)
    try:
        await wait_healthy(restarted)
        took = await ended_within(data_dir, consult_id, GRACE_SECONDS + 5)
    finally:
        stop(restarted)
    assert took <= GRACE_SECONDS + 5
    assert consult_row(data_dir, consult_id)[1] == "aborted"
    with sqlite3.connect(data_dir / "shouzhen.sqlite3") as db:
        entries = db.execute("SELECT action, actor_role FROM audit_log WHERE consult_id = ? "
                             "ORDER BY seq", (consult_id,)).fetchall()
        events = {kind: json.loads(payload) for kind, payload in db.execute(
            "SELECT event_type, payload FROM outbox_events WHERE consult_id = ?",
            (consult_id,))}
        deadlines = db.execute("SELECT count(*) FROM reconnect_deadlines").fetchone()[0]
    # Both were gone when the server died: each is interrupted, then the call is ended by
    # the system, as when both drop without a crash.
    interrupted = [i for i, (action, _) in enumerate(entries)
                   if action == "participant.interrupted"]
    assert {entries[i][1] for i in interrupted} == {"physician", "guardian"}, entries
    ended = [i for i, (action, _) in enumerate(entries) if action == "consult.ended"]
    assert ended and ended[0] > interrupted[0] and entries[ended[0]][1] == "system", entries
    assert events["consult.aborted"]["alert"] is True
    assert events["consult.aborted"]["reason"] in ("physician_connection_lost", "guardian_left")
    assert events["consult.reschedule_requested"], events
    assert deadlines == 0, "an ended consult leaves no deadline behind"


async def test_a_call_only_the_physician_returns_to_after_a_crash_ends_aborted(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    consult_id, doctor_token = await killed_mid_call(data_dir, port)
    restarted = spawn_node("solo", port, data_dir, ENV)
    doctor = Browser(doctor_token)
    try:
        await wait_healthy(restarted)
        await doctor.connect(restarted.url)
        joined = await doctor.call("join")
        assert joined["ok"], joined
        # Honest presence after the restart: the guardian is being waited for.
        assert joined["presence"]["guardian"]["status"] == "reconnecting", joined
        await ended_within(data_dir, consult_id, GRACE_SECONDS + 5)
        for _ in range(50):
            if doctor.events.get("ended"):
                break
            await asyncio.sleep(0.1)
    finally:
        await doctor.close()
        stop(restarted)
    assert doctor.events["ended"][0]["outcome"] == "aborted"
    with sqlite3.connect(data_dir / "shouzhen.sqlite3") as db:
        (payload,) = db.execute("SELECT payload FROM outbox_events WHERE consult_id = ? AND "
                                "event_type = 'consult.aborted'", (consult_id,)).fetchone()
    assert json.loads(payload)["reason"] == "guardian_left"
    assert json.loads(payload)["alert"] is True

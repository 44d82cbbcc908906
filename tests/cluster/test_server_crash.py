"""SIGKILL the server in the middle of a recorded consult: after a restart the recording is
recovered, plays, and holds the media up to the kill minus at most about a second."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import time
from pathlib import Path

from recorder.archive_manifest import verify_manifest

from .conftest import (
    Browser,
    free_port,
    kill_mid_call,
    spawn_node,
    stop,
    wait_healthy,
)


async def sealed_manifest(data_dir: Path, consult_id: str) -> str:
    for _ in range(100):
        with sqlite3.connect(data_dir / "shouzhen.sqlite3") as db:
            row = db.execute("SELECT manifest_sha256 FROM archives WHERE consult_id = ?",
                             (consult_id,)).fetchone()
        if row is not None:
            return str(row[0])
        await asyncio.sleep(0.2)
    raise AssertionError("the consult was not sealed")


def probe_duration(path: Path) -> tuple[float, int]:
    result = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_streams",
                             "-show_format", "-of", "json", str(path)],
                            capture_output=True, text=True, timeout=60, check=True)
    info = json.loads(result.stdout)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    return float(info["format"]["duration"]), int(video["nb_read_packets"])


async def test_a_killed_server_loses_at_most_about_a_second_of_recording(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    killed = await kill_mid_call(spawn_node("solo", port, data_dir, {}))
    consult_id, doctor_token = killed.consult_id, killed.doctor_token
    # What the server had received from the guardian when it died.
    forwarded, killed_at = killed.frames_forwarded, killed.killed_at_monotonic

    restarted = spawn_node("solo", port, data_dir, {})
    try:
        await wait_healthy(restarted)
        assert time.monotonic() - killed_at < 60
        # The physician comes back and ends the interrupted consult; it is sealed with the
        # recovered recording, the untouched original and the recovery report.
        doctor = Browser(doctor_token)
        await doctor.connect(restarted.url)
        assert (await doctor.call("join"))["ok"]
        ended = await doctor.call("end", {"outcome": "aborted", "reason": "technical_failure",
                                          "follow_up": "reschedule"})
        assert ended["ok"], ended
        await doctor.close()
        manifest_sha = await sealed_manifest(data_dir, consult_id)
    finally:
        stop(restarted)
    verification = verify_manifest(data_dir / "store" / "consults" / consult_id, manifest_sha)
    assert verification.ok, verification
    with sqlite3.connect(data_dir / "shouzhen.sqlite3") as db:
        rows = db.execute(
            "SELECT participant, storage_key, status FROM recording_segments "
            "WHERE consult_id = ?", (consult_id,)).fetchall()
        recovered_audits = db.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'recording.recovered' "
            "AND consult_id = ?", (consult_id,)).fetchone()[0]
    guardian = [(key, status) for participant, key, status in rows if participant == "guardian"]
    assert guardian and all(status == "recovered" for _, status in guardian), rows
    assert recovered_audits >= 2
    key = guardian[0][0]
    duration, frames = probe_duration(data_dir / "store" / key)
    original = (data_dir / "store" / key.replace(".recovered", ""))
    assert original.exists(), "the original file is kept untouched beside the repair"
    # At most about a second (30 frames) short of what the server had already forwarded.
    assert frames >= forwarded - 36, (frames, forwarded)
    assert duration >= forwarded / 30 - 1.2, (duration, forwarded)

"""A segment repaired after a crash sits in the replay at its true start, with its duration,
codecs and picture size, like a closed one: not at the moment the server came back."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from recorder.crash_recovery import recover_unfinished
from recorder.participant_recording import ParticipantRecording
from recorder.recording_reports import SegmentSummary
from recorder.segment_file import MARKER_FORMAT, marker_path_for
from recorder.storage import recordings_key


async def crashed_segment(directory: Path, media: Any, *, marker: str | None = None,
                          seconds: float = 3.0) -> SegmentSummary:
    """A segment as a kill -9 leaves it: last cluster cut short, no trailer, marker left
    by a process that is gone."""
    packets = media.interleave(media.video_packets("vp8", 640, 480, seconds),
                               media.audio_packets(seconds))
    recording = ParticipantRecording(directory, "guardian")
    recording.start()
    media.feed(recording, packets)
    (segment,) = (await recording.finish()).segments
    data = segment.path.read_bytes()
    segment.path.chmod(0o644)
    segment.path.write_bytes(data[: int(len(data) * 0.8)])
    if marker is None:
        marker = json.dumps({
            "format": MARKER_FORMAT, "participant": "guardian", "segment_index": segment.index,
            "file": segment.path.name, "wall_clock_start": segment.wall_clock_start,
            "process_token": "a-process-that-died"})
    marker_path_for(segment.path).write_text(marker)
    return segment


async def test_recovery_reports_the_segment_start_codecs_and_size(tmp_path, media):
    segment = await crashed_segment(tmp_path, media)

    (result,) = recover_unfinished(tmp_path)

    assert result.status == "recovered"
    assert result.wall_clock_start == segment.wall_clock_start
    assert result.codecs == {"audio": "opus", "video": "vp8"}
    assert result.video_size == (640, 480)
    # 80 % of the bytes: most of the 3 s, never more than the whole.
    assert 1.5 < result.duration_s <= segment.duration_s + 0.05, result.duration_s


async def test_a_torn_marker_leaves_the_start_to_the_file_s_own_tag(tmp_path, media):
    segment = await crashed_segment(tmp_path, media, marker='{"participant": "guar')

    (result,) = recover_unfinished(tmp_path)

    assert result.status == "recovered"
    assert result.wall_clock_start == segment.wall_clock_start


async def test_the_replay_places_a_recovered_segment_at_its_true_start(api, booked_consult,
                                                                       media):
    consult = await booked_consult()
    consult_id = consult["consult"]["id"]
    storage = api.services.storage
    directory = storage.path_for(recordings_key(consult_id))
    directory.mkdir(parents=True)
    # Recorded at T0 (mid-2025); the repaired copy is written now, at the "restart".
    segment = await crashed_segment(directory, media)

    await api.services.archivist.recover()

    response = await api.client.get(f"/api/replay/consults/{consult_id}", headers=api.auditor)
    assert response.status == 200, await response.text()
    view = await response.json()
    (listed,) = [s for segments in _segment_lists(view) for s in segments]
    assert listed["status"] == "recovered"
    started = datetime.fromisoformat(listed["started_at"]).timestamp()
    assert abs(started - segment.wall_clock_start) < 1.0, (started, segment.wall_clock_start)
    assert 1.5 < listed["duration_s"] <= segment.duration_s + 0.05
    assert sorted(listed["codecs"]) == ["opus", "vp8"]
    assert listed["video_size"] == "640x480"


def _segment_lists(view: dict[str, Any]) -> list[list[dict[str, Any]]]:
    participants = view["recordings"]["participants"]
    return [p["segments"] for p in participants]

"""A consult's recorder: one recording per participant, each closed segment handed to the
ledger under its storage key, and `finish` returning only once the ledger has them all."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from recorder.consult_recorder import ConsultRecorder
from recorder.recording_reports import SegmentSummary


class SlowLedger:
    """A ledger as slow as a busy database: `finish` must still wait for every segment."""

    def __init__(self) -> None:
        self.segments: list[tuple[str, str, SegmentSummary]] = []
        self.alerts: list[tuple[str, str, dict[str, Any]]] = []

    async def segment_closed(self, consult_id: str, storage_key: str,
                             segment: SegmentSummary) -> None:
        await asyncio.sleep(0.2)
        self.segments.append((consult_id, storage_key, segment))

    async def alert(self, consult_id: str, action: str, details: dict[str, Any]) -> None:
        self.alerts.append((consult_id, action, details))


async def test_every_segment_of_every_participant_is_in_the_ledger_when_finish_returns(
    tmp_path: Path, media: Any
) -> None:
    ledger = SlowLedger()
    directory = tmp_path / "consults" / "c1" / "recordings"
    recorder = ConsultRecorder("c1", directory, "consults/c1/recordings", ledger)
    packets = media.interleave(media.video_packets("vp8", 320, 240, 2.0),
                               media.audio_packets(2.0))
    half = len(packets) // 2
    for packet in packets[:half]:
        recorder.on_frame("guardian", packet)
        recorder.on_frame("physician", packet)
    recorder.new_segment("guardian", "reconnect")
    recorder.new_segment("nobody", "reconnect")  # no recording yet: nothing to split
    for packet in packets[half:]:
        recorder.on_frame("guardian", packet)
    await recorder.finish()

    keys = sorted(key for _, key, _ in ledger.segments)
    assert keys == ["consults/c1/recordings/guardian-001.webm",
                    "consults/c1/recordings/guardian-002.webm",
                    "consults/c1/recordings/physician-001.webm"]
    assert {consult for consult, _, _ in ledger.segments} == {"c1"}
    by_key = {key: segment for _, key, segment in ledger.segments}
    assert by_key["consults/c1/recordings/guardian-001.webm"].closed_because == "reconnect"
    assert all((directory / Path(key).name).is_file() for key in keys)
    assert ledger.alerts == []

    recorder.on_frame("guardian", packets[0])  # after the end: nothing more is recorded
    await recorder.finish()
    assert len(ledger.segments) == 3
    assert sorted(p.name for p in directory.iterdir()) == [Path(k).name for k in keys]

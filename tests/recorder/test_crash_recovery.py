"""SIGKILL mid-recording: the file stays readable and start-up recovery repairs a copy."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import pickle
import signal
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from recorder.crash_recovery import recover_unfinished
from recorder.participant_recording import ParticipantRecording
from recorder.segment_file import MuxOptions, SegmentFile, SegmentTracks, list_segment_files

log = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("crash_child.py")
MAX_LOSS_S = 1.1  # the 1 s cluster being built, plus a packet or two in flight


def packet_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size:
                counts[packet.stream.type] = counts.get(packet.stream.type, 0) + 1
    return counts


FRAME_S = {"audio": 0.020, "video": 1 / 30}


@pytest.mark.parametrize(
    ("video_seconds", "kill_after_s"),
    [
        # Both tracks flowing; killed mid-GOP (keyframes at 0, 2, 4 s), half a
        # cluster after the 2.96 s cluster boundary.
        (5.0, 3.5),
        # The camera stops at 2 s; 1 s later an audio-only segment takes over
        # (else the interleaver would hold all audio back); killed in that segment.
        (2.0, 4.5),
    ],
    ids=["audio_and_video", "camera_stops"],
)
async def test_sigkill_loses_at_most_about_a_second_and_recovery_repairs_a_copy(
    tmp_path: Path, media: Any, video_seconds: float, kill_after_s: float
) -> None:
    packets = media.interleave(
        media.video_packets("vp8", 640, 480, video_seconds), media.audio_packets(5.0)
    )
    packets_file = tmp_path / "packets.pickle"
    packets_file.write_bytes(
        pickle.dumps(
            [
                (
                    p.kind,
                    p.codec,
                    p.data,
                    p.pts,
                    p.time_base,
                    p.keyframe,
                    float(p.pts * p.time_base),
                )
                for p in packets
            ]
        )
    )
    # The child paces on media time and stamps real arrival times.
    out = tmp_path / "recordings"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(packets_file),
        str(out),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).parents[2]),
    )
    assert child.stdout is not None
    fed = {"audio": 0, "video": 0}
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await child.stdout.readline()).decode()
                assert line, "child exited before it was killed"
                if line.startswith("fed "):
                    _, kind, count, media_s = line.split()
                    fed[kind] = int(count)
                    if kind == "audio" and float(media_s) >= kill_after_s:
                        break
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    originals = list_segment_files(out)
    unfinished = [p for p in originals if p.with_name(p.name + ".recording").exists()]
    assert len(unfinished) == 1, "exactly the segment being written is unfinished"
    (original,) = unfinished
    assert original == originals[-1]
    original_bytes = original.read_bytes()
    before_repair = packet_counts(original)  # readable as it is, without any repair

    results = recover_unfinished(out)

    (result,) = results
    assert result.status == "recovered"
    assert result.original_path == original
    assert original.read_bytes() == original_bytes, "the original is evidence: untouched"
    assert result.original_sha256 == hashlib.sha256(original_bytes).hexdigest()
    assert result.repaired_path == original.with_name(
        original.name.replace(".webm", ".recovered.webm")
    )
    assert not original.with_name(original.name + ".recording").exists()
    assert result.marker_path.exists()
    report = json.loads(result.report_path.read_text())
    assert report["status"] == "recovered" and report["marker"]["participant"] == "guardian"

    probe = media.ffprobe(result.repaired_path, "-count_packets")
    assert float(probe["format"]["duration"]) > 0  # Duration restored
    kept = {"audio": 0, "video": 0}
    for path in [*originals[:-1], result.repaired_path]:
        for kind, count in packet_counts(path).items():
            kept[kind] += count
    for kind in ("audio", "video"):
        lost_s = (fed[kind] - kept[kind]) * FRAME_S[kind]
        log.info(
            "SIGKILL loss kind=%s fed=%d kept=%d lost_s=%.3f", kind, fed[kind], kept[kind], lost_s
        )
        assert 0 <= lost_s <= MAX_LOSS_S, f"{kind}: fed {fed[kind]}, kept {kept[kind]}"
        assert result.packets.get(kind, 0) >= before_repair.get(kind, 0)
    # Payloads survive the repair byte for byte.
    recovered_audio = media.demuxed_payloads(result.repaired_path, "audio")
    fed_audio = [p.data for p in packets if p.kind == "audio"]
    start = kept["audio"] - len(recovered_audio)
    assert recovered_audio == fed_audio[start : start + len(recovered_audio)]

    # Idempotent: the marker is retired, a second run finds nothing.
    assert recover_unfinished(out) == []
    # And a recorder restarted in that directory continues the numbering.
    recording = ParticipantRecording(out, "guardian")
    recording.start()
    media.feed(recording, packets[:40])
    (segment,) = (await recording.finish()).segments
    assert segment.path.name == f"guardian-{len(originals) + 1:03d}.webm"


def test_recovery_reports_a_segment_that_crashed_before_its_header(tmp_path: Path) -> None:
    media_file = tmp_path / "physician-001.webm"
    media_file.write_bytes(b"")
    marker = tmp_path / "physician-001.webm.recording"
    marker.write_text(json.dumps({"participant": "physician", "segment_index": 1}))

    (result,) = recover_unfinished(tmp_path)
    assert result.status == "empty" and result.repaired_path is None
    assert media_file.exists() and (tmp_path / "physician-001.webm.recording.recovered").exists()


def test_recovery_keeps_an_unreadable_file_and_says_so(tmp_path: Path) -> None:
    media_file = tmp_path / "physician-001.webm"
    media_file.write_bytes(b"\x1a\x45\xdf\xa3 not really matroska")
    (tmp_path / "physician-001.webm.recording").write_text("{truncated")

    (result,) = recover_unfinished(tmp_path)
    assert result.status == "unreadable"
    assert media_file.read_bytes() == b"\x1a\x45\xdf\xa3 not really matroska"
    assert result.participant == "physician" and result.segment_index == 1


async def test_recovery_repairs_an_h264_matroska_file_cut_mid_cluster(
    tmp_path: Path, media: Any
) -> None:
    packets = media.interleave(media.video_packets("h264", 640, 480, 3.0), media.audio_packets(3.0))
    recording = ParticipantRecording(tmp_path, "physician")
    recording.start()
    media.feed(recording, packets)
    (segment,) = (await recording.finish()).segments
    # What a crash leaves: no trailer (Cues, final sizes), the last cluster cut short.
    data = segment.path.read_bytes()
    cut = data[: int(len(data) * 0.7)]
    segment.path.chmod(0o644)
    segment.path.write_bytes(cut)
    segment.path.with_name(segment.path.name + ".recording").write_text("{}")

    (result,) = recover_unfinished(tmp_path)
    assert result.status == "recovered"
    assert segment.path.read_bytes() == cut
    assert result.repaired_path is not None
    probe = media.ffprobe(result.repaired_path, "-count_frames")
    video = media.stream_of(probe, "video")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 480)
    assert int(video["nb_read_frames"]) == result.packets["video"] > 30
    assert 1.0 < float(probe["format"]["duration"]) < 3.0
    assert result.original_path == segment.path


def test_a_segment_killed_before_its_first_cluster_is_reported_empty(
    tmp_path: Path, media: Any
) -> None:
    audio = media.audio_packets(0.2)
    segment = SegmentFile(
        tmp_path, "guardian", 1, SegmentTracks("opus", None, None), audio[0].arrival, MuxOptions()
    )
    segment.open()
    for p in audio:
        segment.write("audio", p.data, round((p.arrival - audio[0].arrival) * 1000), True)
    # No close(): the header is on disk, the first cluster only in memory.
    marker = segment.marker_path
    assert recover_unfinished(tmp_path) == []  # this process's own live marker: left alone …
    # … but after a crash another process reads it (same pid is no excuse).
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "process_token": "dead"}))
    header = segment.path.read_bytes()
    assert 0 < len(header) < 1000

    (result,) = recover_unfinished(tmp_path)
    assert result.status == "empty" and result.repaired_path is None
    assert segment.path.read_bytes() == header
    segment.abandon()

"""Start-up repair of segments a crashed process left unfinished.

A segment whose `<file>.recording` marker still exists was never closed: its
Matroska trailer (Cues, Duration, final SeekHead) is missing and its last cluster
may be cut short. Players still read it, but cannot seek, and show no duration.

`recover_unfinished` leaves the original byte-for-byte alone (it is the
evidence) and writes a playable copy beside it with a stream-copy remux, the
PyAV equivalent of `ffmpeg -i X -c copy`:

    alice-002.webm                        original, untouched
    alice-002.recovered.webm              remuxed copy: Cues, Duration, seeking
    alice-002.webm.recovery.json          what was done, both SHA-256s, the marker
    alice-002.webm.recording.recovered    the marker, renamed so it is not redone

The report also says where the segment sits in time and what it holds, as a closed
segment's summary would: its wall-clock start (from the marker, else the file's own
SHOUZHEN_WALL_CLOCK_START tag), and the codecs and picture size read from the repaired
copy's streams. A crash is usually noticed well after the file's last write, so neither
the time of recovery nor the file's modification time is a start.

Nothing is ever deleted. Run it at start-up, before any recording starts in the
directory: markers written by this very process are skipped, but a recorder
live in another process cannot be told apart from a dead one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import av

from recorder.durable_files import (
    fsync_directory,
    fsync_path,
    sha256_file,
    write_file_durably,
)
from recorder.segment_file import MARKER_SUFFIX, PROCESS_TOKEN, parse_segment_name

log = logging.getLogger(__name__)

RECOVERY_REPORT_SUFFIX = ".recovery.json"
RETIRED_MARKER_SUFFIX = ".recovered"
REPORT_FORMAT = "shouzhen-recovery-report/1"

# empty: nothing to repair (no bytes, or no media block made it to disk).
RecoveryStatus = Literal["recovered", "empty", "unreadable"]


@dataclass(frozen=True, slots=True)
class RecoveredSegment:
    status: RecoveryStatus
    original_path: Path
    report_path: Path
    marker_path: Path  # where the marker now lives (renamed)
    participant: str | None
    segment_index: int | None
    original_sha256: str | None
    original_size: int
    repaired_path: Path | None
    repaired_sha256: str | None
    repaired_size: int | None
    packets: dict[str, int] = field(default_factory=dict)  # per kind, in the repaired copy
    duration_s: float = 0.0  # from the segment's time 0 to the end of its last packet
    error: str | None = None  # why reading stopped early (a cut-off last cluster is normal)
    # Seconds since the epoch of the segment's time 0; None when neither marker nor file says.
    wall_clock_start: float | None = None
    codecs: dict[str, str] = field(default_factory=dict)  # per kind with packets in the copy
    video_size: tuple[int, int] | None = None  # (width, height) of the copy's video track


class OriginalChangedDuringRecovery(RuntimeError):
    """Something still writes the file: recovery ran while a recorder was live."""


class _NoMediaBlock(Exception):
    """The file ends before its first media block."""


@dataclass(slots=True)
class _RemuxResult:
    packets: dict[str, int]
    duration_s: float
    stopped_by: str | None
    wall_clock_start: float | None = None  # the file's own tag, if it has one
    codecs: dict[str, str] = field(default_factory=dict)
    video_size: tuple[int, int] | None = None


def recover_unfinished(directory: Path, *, recursive: bool = True) -> list[RecoveredSegment]:
    """Repair every unfinished segment under `directory`; report each one.

    Blocking (it reads and writes whole files): call it from a thread or before
    the event loop starts.
    """
    directory = Path(directory)
    pattern = f"*{MARKER_SUFFIX}"
    markers = sorted(directory.rglob(pattern) if recursive else directory.glob(pattern))
    results: list[RecoveredSegment] = []
    for marker in markers:
        marker_data = _read_marker(marker)
        if marker_data.get("process_token") == PROCESS_TOKEN:
            log.info("skipping marker of a live recording in this process marker=%s", marker)
            continue
        results.append(_recover_one(marker, marker_data))
    return results


def _read_marker(marker: Path) -> dict[str, Any]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        # A marker cut short by the crash still names its file through its own name.
        log.warning("unreadable recording marker marker=%s error=%r", marker, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _recover_one(marker: Path, marker_data: dict[str, Any]) -> RecoveredSegment:
    original = marker.with_name(marker.name.removesuffix(MARKER_SUFFIX))
    report_path = original.with_name(original.name + RECOVERY_REPORT_SUFFIX)
    retired_marker = marker.with_name(marker.name + RETIRED_MARKER_SUFFIX)
    name = parse_segment_name(original.name)
    original_size = original.stat().st_size if original.exists() else 0

    status: RecoveryStatus
    original_sha: str | None = None
    repaired: Path | None = None
    repaired_sha: str | None = None
    repaired_size: int | None = None
    remux = _RemuxResult({}, 0.0, None)
    if original_size == 0:
        # Crashed before the container header reached the disk: nothing to repair.
        status = "empty"
    else:
        original_sha = sha256_file(original).sha256
        repaired = original.with_name(_repaired_name(original.name))
        try:
            remux = _remux_copy(original, repaired, original_sha)
        except _NoMediaBlock as exc:
            # Header written, first cluster still in memory when the process died.
            status = "empty"
            remux = _RemuxResult({}, 0.0, str(exc))
            repaired = None
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.error("recovery remux failed file=%s error=%r", original, exc)
            status = "unreadable"
            remux = _RemuxResult({}, 0.0, repr(exc))
            repaired = None
        else:
            status = "recovered"
            digest = sha256_file(repaired)
            repaired_sha, repaired_size = digest.sha256, digest.size
        # The original must not have changed under us: it is the evidence.
        if sha256_file(original).sha256 != original_sha:
            raise OriginalChangedDuringRecovery(str(original))

    result = RecoveredSegment(
        status=status,
        original_path=original,
        report_path=report_path,
        marker_path=retired_marker,
        participant=name.participant if name else marker_data.get("participant"),
        segment_index=name.index if name else marker_data.get("segment_index"),
        original_sha256=original_sha,
        original_size=original_size,
        repaired_path=repaired,
        repaired_sha256=repaired_sha,
        repaired_size=repaired_size,
        packets=remux.packets,
        duration_s=remux.duration_s,
        error=remux.stopped_by,
        wall_clock_start=_wall_clock(marker_data.get("wall_clock_start"))
        or remux.wall_clock_start,
        codecs=remux.codecs,
        video_size=remux.video_size,
    )
    report = {
        "format": REPORT_FORMAT,
        "marker": marker_data,
        **{
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in asdict(result).items()
        },
    }
    write_file_durably(
        report_path,
        json.dumps(report, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8"),
        exclusive=False,
    )
    # Renamed, not deleted: the marker is part of the record of what happened.
    os.replace(marker, retired_marker)
    fsync_directory(marker.parent)
    log.warning(
        "unfinished segment %s file=%s packets=%s duration_s=%.3f stopped_by=%s",
        status,
        original,
        remux.packets,
        remux.duration_s,
        remux.stopped_by,
    )
    return result


def _wall_clock(value: Any) -> float | None:
    """A wall-clock start as the marker or the file's tag holds it, or None if unusable."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 and seconds == seconds else None  # not NaN, not zero


def _repaired_name(original_name: str) -> str:
    stem, dot, extension = original_name.rpartition(".")
    return f"{stem}.recovered{dot}{extension}"


def _remux_copy(source: Path, target: Path, source_sha256: str) -> _RemuxResult:
    """Stream-copy every audio/video packet that can still be read into `target`."""
    temporary = target.with_name(f".{target.name}.partial")
    container_format = "matroska" if source.suffix == ".mkv" else "webm"
    packets: dict[str, int] = {}
    end_s = 0.0
    stopped_by: str | None = None
    try:
        reader = av.open(str(source), "r")
    except av.error.EOFError:
        raise _NoMediaBlock("file ends before its first media block") from None
    with reader:
        streams = [s for s in reader.streams if s.type in ("audio", "video")]
        if not streams:
            raise ValueError("no audio or video stream in the unfinished file")
        with av.open(str(temporary), "w", format=container_format) as writer:
            for key, value in reader.metadata.items():
                writer.metadata[key] = value
            writer.metadata["SHOUZHEN_RECOVERED_FROM"] = source.name
            writer.metadata["SHOUZHEN_RECOVERED_FROM_SHA256"] = source_sha256
            mapping = {s.index: writer.add_stream_from_template(s, opaque=True) for s in streams}
            try:
                for packet in reader.demux(streams):
                    if packet.size == 0 or packet.pts is None:
                        continue  # demuxer's end-of-stream marker
                    if packet.is_corrupt:
                        # The block the crash cut in half: keep it out of the copy.
                        stopped_by = "corrupt last packet skipped"
                        continue
                    kind = packet.stream.type
                    time_base = packet.time_base
                    if time_base is not None:
                        end = (packet.pts + (packet.duration or 0)) * time_base
                        end_s = max(end_s, float(end))
                    packet.stream = mapping[packet.stream.index]
                    writer.mux(packet)
                    packets[kind] = packets.get(kind, 0) + 1
            except av.error.FFmpegError as exc:
                # Normal for a crash: the last cluster ends mid-element.
                stopped_by = repr(exc)
        wall_clock_start = _wall_clock(reader.metadata.get("SHOUZHEN_WALL_CLOCK_START"))
        # Only tracks that reached the copy: a header may declare a track never written.
        kept = [s for s in streams if packets.get(s.type)]
        codecs: dict[str, str] = {s.type: s.codec_context.codec.canonical_name for s in kept}
        video_size = None
        for stream in kept:
            if isinstance(stream, av.VideoStream) and stream.width and stream.height:
                video_size = (stream.width, stream.height)
    fsync_path(temporary)
    os.replace(temporary, target)
    fsync_directory(target.parent)
    return _RemuxResult(packets, end_s, stopped_by, wall_clock_start, codecs, video_size)

"""One recording segment on disk: a Matroska/WebM file plus its `.recording` marker.

A segment holds one participant's encoded audio and video exactly as received.
The file is named `<participant>-<NNN>.webm` (VP8 and/or Opus) or `.mkv` (H.264),
NNN counting from 001 per participant in the consult's recording directory.

While a segment is being written, `<file>.recording` (JSON) sits next to it. The
marker is created, and made durable, before the first byte of media, and removed
only after the container's trailer is written and the file fsynced. A marker
found at start-up therefore means "this file was not finished" and
`crash_recovery.recover_unfinished` repairs a copy of it.

All of this is blocking and runs in the recorder's writer thread.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
from av.container import OutputContainer
from av.stream import Stream

from recorder.durable_files import fsync_directory, fsync_path, write_file_durably
from recorder.video_bitstream import FrameSize

log = logging.getLogger(__name__)

MediaKind = Literal["audio", "video"]
AUDIO_CODECS = frozenset({"opus"})
VIDEO_CODECS = frozenset({"vp8", "h264"})

MARKER_SUFFIX = ".recording"
# Identifies this process in markers. A pid alone would not do: a server
# restarted in a container is often pid 1 again, like the one that crashed.
PROCESS_TOKEN = secrets.token_hex(16)
MARKER_FORMAT = "shouzhen-recording-marker/1"
MILLISECONDS = Fraction(1, 1000)

_PARTICIPANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$")
_SEGMENT_NAME_RE = re.compile(
    r"^(?P<participant>[A-Za-z0-9][A-Za-z0-9_]{0,63})-(?P<index>\d{3,})"
    r"(?P<recovered>\.recovered)?\.(?P<ext>webm|mkv)$"
)


class InvalidParticipantId(ValueError):
    """Participant ids become file names: letters, digits and '_' only."""


def validate_participant(participant: str) -> str:
    # '-' is the separator before the segment number, so it is not allowed inside.
    if not _PARTICIPANT_RE.match(participant):
        raise InvalidParticipantId(
            f"participant id {participant!r} must match {_PARTICIPANT_RE.pattern}"
        )
    return participant


@dataclass(frozen=True, slots=True)
class SegmentName:
    participant: str
    index: int
    extension: str
    recovered: bool

    @property
    def file_name(self) -> str:
        middle = ".recovered" if self.recovered else ""
        return f"{self.participant}-{self.index:03d}{middle}.{self.extension}"


def parse_segment_name(name: str) -> SegmentName | None:
    match = _SEGMENT_NAME_RE.match(name)
    if match is None:
        return None
    return SegmentName(
        participant=match["participant"],
        index=int(match["index"]),
        extension=match["ext"],
        recovered=match["recovered"] is not None,
    )


def list_segment_files(directory: Path, participant: str | None = None) -> list[Path]:
    """Original segment files in recording order (participant, then segment index).

    `.recovered` copies are left out: they sit beside their original, same index.
    """
    found: list[tuple[str, int, Path]] = []
    if not directory.is_dir():
        return []
    for entry in directory.iterdir():
        name = parse_segment_name(entry.name)
        if name is None or name.recovered:
            continue
        if participant is not None and name.participant != participant:
            continue
        found.append((name.participant, name.index, entry))
    return [path for _, _, path in sorted(found)]


def next_segment_index(directory: Path, participant: str) -> int:
    """First index not used by any file or marker of this participant.

    A recorder restarted after a crash continues the numbering instead of
    overwriting what the crashed process left behind.
    """
    highest = 0
    if directory.is_dir():
        for entry in directory.iterdir():
            base = entry.name.removesuffix(MARKER_SUFFIX)
            name = parse_segment_name(base)
            if name is not None and name.participant == participant:
                highest = max(highest, name.index)
            elif base.startswith(f"{participant}-"):
                # Recovery reports and unknown variants still reserve their number.
                digits = base[len(participant) + 1 :].split(".", 1)[0]
                if digits.isdigit():
                    highest = max(highest, int(digits))
    return highest + 1


@dataclass(frozen=True, slots=True)
class SegmentTracks:
    """What a segment's container declares before its first block."""

    audio_codec: str | None
    video_codec: str | None
    video_size: FrameSize | None

    def __post_init__(self) -> None:
        if self.audio_codec is None and self.video_codec is None:
            raise ValueError("a segment needs at least one track")
        if self.audio_codec is not None and self.audio_codec not in AUDIO_CODECS:
            raise ValueError(f"unsupported audio codec {self.audio_codec!r}")
        if self.video_codec is not None:
            if self.video_codec not in VIDEO_CODECS:
                raise ValueError(f"unsupported video codec {self.video_codec!r}")
            if self.video_size is None:
                raise ValueError("a video track needs its picture size")

    @property
    def container_format(self) -> Literal["webm", "matroska"]:
        # WebM admits VP8/VP9/AV1 + Opus/Vorbis only; H.264 needs full Matroska.
        return "matroska" if self.video_codec == "h264" else "webm"

    @property
    def extension(self) -> str:
        return "mkv" if self.container_format == "matroska" else "webm"


@dataclass(frozen=True, slots=True)
class MuxOptions:
    """Container options that bound what a crash can lose.

    `cluster_time_limit_ms`: matroskaenc keeps the open cluster in memory and
    writes it when the cluster ends, so this is the main bound on loss.
    `max_interleave_delta_ms`: libavformat holds packets back to interleave
    streams; with a silent track (camera off) the default 10 s would all sit in
    memory. `flush_packets`: hand every finished write to the OS at once.
    """

    cluster_time_limit_ms: int = 1000
    max_interleave_delta_ms: int = 500
    flush_packets: bool = True

    def as_av_options(self) -> dict[str, str]:
        return {
            "flush_packets": "1" if self.flush_packets else "0",
            "cluster_time_limit": str(self.cluster_time_limit_ms),
            "max_interleave_delta": str(self.max_interleave_delta_ms * 1000),
        }


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(payload: bytes, header_type: int, sequence: int, granule: int) -> bytes:
    lacing = [255] * (len(payload) // 255) + [len(payload) % 255]
    header = (
        b"OggS"
        + bytes([0, header_type])
        + struct.pack("<qII", granule, 0x53485A, sequence)
        + b"\0\0\0\0"
        + bytes([len(lacing)])
        + bytes(lacing)
    )
    page = bytearray(header + payload)
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def _opus_template_ogg() -> bytes:
    """A tiny Ogg Opus stream whose OpusHead has pre-skip 0.

    Matroska's A_OPUS needs an OpusHead as CodecPrivate. PyAV can only attach
    extradata through a template stream; the libopus encoder's header would add
    a 312-sample pre-skip (CodecDelay) that makes players drop the first 6.5 ms
    of every segment, although WebRTC Opus has no encoder priming to drop.
    Two channels: RFC 7587 always signals opus/48000/2 and decoders downmix.
    """
    opus_head = b"OpusHead" + bytes([1, 2]) + struct.pack("<HIhB", 0, 48000, 0, 0)
    vendor = b"shouzhen"
    opus_tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    # One 20 ms frame coded as a lone TOC byte (empty frame) so the demuxer sees data.
    return (
        _ogg_page(opus_head, 0x02, 0, 0)
        + _ogg_page(opus_tags, 0x00, 1, 0)
        + _ogg_page(b"\xf8", 0x04, 2, 960)
    )


_OPUS_TEMPLATE = _opus_template_ogg()


def _add_opus_stream(container: OutputContainer) -> Stream:
    with av.open(io.BytesIO(_OPUS_TEMPLATE), "r", format="ogg") as template:
        return container.add_stream_from_template(template.streams.audio[0], opaque=True)


def marker_path_for(media_path: Path) -> Path:
    return media_path.with_name(media_path.name + MARKER_SUFFIX)


class SegmentFile:
    """A Matroska/WebM file being written from encoded packets, and its marker."""

    def __init__(
        self,
        directory: Path,
        participant: str,
        index: int,
        tracks: SegmentTracks,
        wall_clock_start: float,
        mux_options: MuxOptions,
        extra_metadata: dict[str, str] | None = None,
    ) -> None:
        self.participant = validate_participant(participant)
        self.index = index
        self.tracks = tracks
        self.wall_clock_start = wall_clock_start
        name = SegmentName(participant, index, tracks.extension, recovered=False)
        self.path = directory / name.file_name
        self.marker_path = marker_path_for(self.path)
        self._mux_options = mux_options
        self._extra_metadata = dict(extra_metadata or {})
        self._container: OutputContainer | None = None
        self._streams: dict[MediaKind, Stream] = {}
        self._sync_fd: int | None = None

    @property
    def container_format(self) -> str:
        return self.tracks.container_format

    def open(self) -> None:
        if self.path.exists():
            raise FileExistsError(f"segment file {self.path} already exists")
        started = datetime.fromtimestamp(self.wall_clock_start, UTC)
        marker: dict[str, Any] = {
            "format": MARKER_FORMAT,
            "participant": self.participant,
            "segment_index": self.index,
            "file": self.path.name,
            "container_format": self.container_format,
            "audio_codec": self.tracks.audio_codec,
            "video_codec": self.tracks.video_codec,
            "video_size": str(self.tracks.video_size) if self.tracks.video_size else None,
            "wall_clock_start": self.wall_clock_start,
            "wall_clock_start_utc": started.isoformat(),
            "pid": os.getpid(),
            "process_token": PROCESS_TOKEN,
            "marker_written_at": time.time(),
        }
        # Exclusive create: the marker doubles as a lock on this segment number.
        write_file_durably(
            self.marker_path, json.dumps(marker, sort_keys=True, indent=1).encode("utf-8")
        )
        container = av.open(
            str(self.path),
            "w",
            format=self.container_format,
            options=self._mux_options.as_av_options(),
        )
        try:
            container.metadata["title"] = f"{self.participant} segment {self.index}"
            container.metadata["creation_time"] = started.isoformat()
            container.metadata["SHOUZHEN_PARTICIPANT"] = self.participant
            container.metadata["SHOUZHEN_SEGMENT"] = str(self.index)
            container.metadata["SHOUZHEN_WALL_CLOCK_START"] = repr(self.wall_clock_start)
            for key, value in self._extra_metadata.items():
                container.metadata[key] = value
            if self.tracks.video_codec is not None and self.tracks.video_size is not None:
                # add_mux_stream: no codec context, packets go in untouched. For H.264
                # PyAV derives the avcC from the SPS/PPS of the first packet.
                self._streams["video"] = container.add_mux_stream(
                    self.tracks.video_codec,
                    width=self.tracks.video_size.width,
                    height=self.tracks.video_size.height,
                )
            if self.tracks.audio_codec is not None:
                self._streams["audio"] = _add_opus_stream(container)
        except BaseException:
            container.close()
            raise
        self._container = container
        log.info(
            "segment opened participant=%s segment=%d file=%s tracks=%s",
            self.participant,
            self.index,
            self.path.name,
            self.tracks,
        )

    def write(self, kind: MediaKind, data: bytes, ts_ms: int, keyframe: bool) -> None:
        """Mux one encoded packet at `ts_ms` milliseconds from the segment's start."""
        if self._container is None:
            raise RuntimeError("segment is not open")
        packet = av.Packet(data)
        packet.stream = self._streams[kind]
        # Matroska stores millisecond timestamps; handing them over in 1/1000
        # makes PyAV's in-place rebase a no-op and keeps our monotonicity check exact.
        packet.time_base = MILLISECONDS
        packet.pts = ts_ms
        packet.dts = ts_ms
        packet.is_keyframe = keyframe
        self._container.mux(packet)

    def sync(self) -> None:
        """fsync what the muxer has handed to the OS (a power cut, not a crash, needs it)."""
        if self._sync_fd is None:
            try:
                # PyAV creates the file when it writes the header, at the first mux.
                self._sync_fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return
        os.fsync(self._sync_fd)

    def close(self) -> None:
        """Write the trailer (Cues, Duration), fsync, then retire the marker."""
        container, self._container = self._container, None
        if container is not None:
            container.close()
        self._close_sync_fd()
        if self.path.exists():
            fsync_path(self.path)
        self.marker_path.unlink()
        fsync_directory(self.path.parent)
        log.info(
            "segment closed participant=%s segment=%d file=%s",
            self.participant,
            self.index,
            self.path.name,
        )

    def abandon(self) -> None:
        """After a write error: release what we can, keep the marker for recovery."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # the original error is what gets reported
                log.exception("closing a failed segment also failed file=%s", self.path)
        self._close_sync_fd()

    def _close_sync_fd(self) -> None:
        if self._sync_fd is not None:
            os.close(self._sync_fd)
            self._sync_fd = None

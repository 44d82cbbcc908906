"""What starts a new segment, and that nothing is lost or corrupted across one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recorder.participant_recording import ParticipantRecording, RecordingSettings
from recorder.segment_file import list_segment_files
from recorder.video_bitstream import h264_length_prefixed_units, h264_nal_units


async def record(directory: Path, media: Any, packets: list[Any], **kwargs: Any) -> Any:
    recording = ParticipantRecording(directory, "guardian", **kwargs)
    recording.start()
    media.feed(recording, packets)
    return await recording.finish()


def assert_valid_segment(media: Any, segment: Any, *, video: list[Any] | None) -> dict[str, Any]:
    probe = media.ffprobe(segment.path, "-count_packets", "-count_frames")
    kinds = sorted(s["codec_type"] for s in probe["streams"])
    assert kinds == (["audio", "video"] if video is not None else ["audio"])
    if video is not None:
        v = media.stream_of(probe, "video")
        assert int(v["nb_read_packets"]) == len(video)
        assert int(v["nb_read_frames"]) == len(video)
        recorded = media.demuxed_payloads(segment.path, "video")
        if video[0].codec == "h264":
            # Matroska stores H.264 length-prefixed; compare the NAL units.
            recorded = [b"".join(h264_length_prefixed_units(r)) for r in recorded]
            fed = [b"".join(h264_nal_units(p.data)) for p in video]
        else:
            fed = [p.data for p in video]
        assert recorded == fed
    a = media.stream_of(probe, "audio")
    assert int(a["nb_read_packets"]) == segment.audio.packets_written
    return probe


@pytest.mark.parametrize(("codec", "extension"), [("vp8", "webm"), ("h264", "mkv")])
async def test_resolution_change_starts_a_second_valid_segment(
    tmp_path: Path, media: Any, codec: str, extension: str
) -> None:
    first = media.video_packets(codec, 640, 480, 2.0)
    second = media.shift(media.video_packets(codec, 320, 240, 2.0), seconds=2.0, pts=180000)
    audio = media.audio_packets(4.0)
    summary = await record(tmp_path, media, media.interleave(first, second, audio))

    one, two = summary.segments
    assert (one.path.name, two.path.name) == (
        f"guardian-001.{extension}",
        f"guardian-002.{extension}",
    )
    assert (str(one.video_size), str(two.video_size)) == ("640x480", "320x240")
    assert (one.closed_because, two.opened_because) == ("resolution_change", "resolution_change")
    assert_valid_segment(media, one, video=first)
    probe = assert_valid_segment(media, two, video=second)
    assert media.stream_of(probe, "video")["width"] == 320
    # Audio carried on into the second file: every packet is in exactly one of them.
    assert one.audio.packets_written + two.audio.packets_written == len(audio)
    assert summary.audio.written == len(audio) and summary.video.written == 120
    # Each segment is anchored on its own first arrivals.
    assert abs(two.wall_clock_start - second[0].arrival) < 0.02
    assert list_segment_files(tmp_path) == [one.path, two.path]


async def test_codec_change_from_vp8_to_h264_switches_to_matroska(
    tmp_path: Path, media: Any
) -> None:
    vp8 = media.video_packets("vp8", 640, 480, 2.0)
    h264 = media.shift(media.video_packets("h264", 640, 480, 2.0), seconds=2.0, pts=180000)
    audio = media.audio_packets(4.0)
    summary = await record(tmp_path, media, media.interleave(vp8, h264, audio))

    one, two = summary.segments
    assert (one.path.name, two.path.name) == ("guardian-001.webm", "guardian-002.mkv")
    assert two.opened_because == "codec_change"
    assert one.codecs["video"] == "vp8" and two.codecs["video"] == "h264"
    assert_valid_segment(media, one, video=vp8)
    probe = assert_valid_segment(media, two, video=h264)
    assert media.stream_of(probe, "video")["codec_name"] == "h264"


async def test_timestamps_restarting_after_a_reconnect_start_a_new_segment(
    tmp_path: Path, media: Any
) -> None:
    before = media.interleave(media.video_packets("vp8", 640, 480, 2.0), media.audio_packets(2.0))
    # The browser reconnected: a new RTP session, media clocks from 0 again, 1 s later.
    after = media.shift(before, seconds=3.0)
    summary = await record(tmp_path, media, before + after)

    one, two = summary.segments
    assert two.opened_because == "timestamp_reset"
    for segment in (one, two):
        assert segment.frames_written == {"audio": 100, "video": 60}
        probe = assert_valid_segment(media, segment, video=[p for p in before if p.kind == "video"])
        assert abs(float(probe["format"]["duration"]) - 2.0) < 0.1


async def test_explicit_new_segment_on_reconnect_keeps_numbering(
    tmp_path: Path, media: Any
) -> None:
    packets = media.interleave(media.video_packets("vp8", 640, 480, 2.0), media.audio_packets(2.0))
    recording = ParticipantRecording(tmp_path, "guardian")
    recording.start()
    media.feed(recording, packets[: len(packets) // 2])
    recording.start_new_segment("reconnect")
    media.feed(recording, packets[len(packets) // 2 :])
    summary = await recording.finish()
    one, two = summary.segments
    assert (one.closed_because, two.opened_because) == ("reconnect", "reconnect")
    assert summary.video.written + two.video.dropped_before_keyframe == 60
    assert sum(s.audio.packets_written for s in summary.segments) == 100

    # A second recorder in the same directory (server restarted) never overwrites.
    again = ParticipantRecording(tmp_path, "guardian")
    again.start()
    media.feed(again, packets)
    (three,) = (await again.finish()).segments
    assert three.path.name == "guardian-003.webm"
    assert one.path.exists() and two.path.exists()


async def test_camera_off_gives_audio_only_segment_then_video_starts_the_next(
    tmp_path: Path, media: Any
) -> None:
    audio = media.audio_packets(6.0)
    video = media.shift(media.video_packets("vp8", 640, 480, 3.0), seconds=3.0)
    summary = await record(
        tmp_path,
        media,
        media.interleave(audio, video),
        settings=RecordingSettings(track_start_wait_s=2.0),
    )

    one, two = summary.segments
    assert one.codecs == {"audio": "opus"} and one.video_size is None
    assert two.opened_because == "track_added"
    assert one.audio.packets_written == 150  # the first 3 s, nothing held back lost
    assert two.audio.packets_written == 150
    assert_valid_segment(media, one, video=None)
    probe = assert_valid_segment(media, two, video=video)
    a_start = float(media.stream_of(probe, "audio")["start_time"])
    v_start = float(media.stream_of(probe, "video")["start_time"])
    assert abs(v_start - a_start) < 0.1


async def test_audio_only_participant_opens_without_waiting_for_video(
    tmp_path: Path, media: Any
) -> None:
    audio = media.audio_packets(1.0)
    summary = await record(tmp_path, media, audio, settings=RecordingSettings(expect_video=False))
    (segment,) = summary.segments
    assert segment.opened_because == "start" and segment.codecs == {"audio": "opus"}
    assert media.demuxed_payloads(segment.path, "audio") == [p.data for p in audio]


async def test_a_stopped_vp8_camera_hands_over_to_an_audio_only_segment(
    tmp_path: Path, media: Any
) -> None:
    # libavformat would hold all audio back while a VP8 track is silent; after
    # 1 s of silence the recorder closes the segment and carries on audio-only.
    video = media.video_packets("vp8", 640, 480, 2.0)
    audio = media.audio_packets(6.0)
    back = media.shift(media.video_packets("vp8", 640, 480, 1.0), seconds=5.0, pts=450000)
    summary = await record(tmp_path, media, media.interleave(video, audio, back))

    one, two, three = summary.segments
    assert (one.closed_because, two.opened_because, three.opened_because) == (
        "video_stopped",
        "video_stopped",
        "track_added",
    )
    assert one.codecs == {"audio": "opus", "video": "vp8"} and two.codecs == {"audio": "opus"}
    assert one.audio.end_s is not None and 2.9 < one.audio.end_s < 3.1
    # The audio-only segment opened at once: it did not wait for the camera.
    assert abs(two.wall_clock_start - (one.wall_clock_start + one.audio.end_s + 0.02)) < 0.03
    assert sum(s.audio.packets_written for s in summary.segments) == len(audio)
    assert summary.video.written == len(video) + len(back)
    for segment, fed_video in ((one, video), (two, None), (three, back)):
        assert_valid_segment(media, segment, video=fed_video)

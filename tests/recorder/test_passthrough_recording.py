"""Encoded packets in, the same packets out: no decoding, no re-encoding."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import av

from recorder.participant_recording import ParticipantRecording
from recorder.video_bitstream import h264_length_prefixed_units, h264_nal_units


async def record(directory: Path, media: Any, packets: list[Any]) -> Any:
    recording = ParticipantRecording(directory, "guardian")
    recording.start()
    media.feed(recording, packets)
    return await recording.finish()


async def test_vp8_and_opus_are_recorded_byte_for_byte_into_webm(
    tmp_path: Path, media: Any
) -> None:
    video = media.video_packets("vp8", 640, 480, 5.0)
    audio = media.audio_packets(5.0)
    summary = await record(tmp_path, media, media.interleave(video, audio))

    assert len(summary.segments) == 1
    segment = summary.segments[0]
    assert segment.path.name == "guardian-001.webm"
    assert segment.codecs == {"audio": "opus", "video": "vp8"}
    assert segment.frames_written == {"audio": len(audio), "video": len(video)}
    assert segment.dropped == {"audio": 0, "video": 0}
    assert segment.video_size is not None and str(segment.video_size) == "640x480"
    assert not segment.path.with_name(segment.path.name + ".recording").exists()

    probe = media.ffprobe(segment.path, "-count_packets", "-count_frames")
    assert probe["format"]["format_name"] == "matroska,webm"
    v = media.stream_of(probe, "video")
    a = media.stream_of(probe, "audio")
    assert (v["codec_name"], v["width"], v["height"]) == ("vp8", 640, 480)
    assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("opus", "48000", 2)
    assert int(v["nb_read_packets"]) == len(video)
    assert int(v["nb_read_frames"]) == len(video)  # every frame decodes
    assert int(a["nb_read_packets"]) == len(audio)
    # Browsers need an OpusHead (CodecPrivate); ours has pre-skip 0 and no
    # CodecDelay, so players drop none of the received samples.
    assert a["extradata_size"] == 19 and "initial_padding" not in a
    with av.open(str(segment.path)) as container:
        samples = sum(
            frame.samples
            for packet in container.demux(container.streams.audio[0])
            for frame in packet.decode()
        )
    assert samples == len(audio) * 960
    sent_s = 5.0
    assert abs(float(probe["format"]["duration"]) - sent_s) <= 0.05 * sent_s
    assert abs(float(v["start_time"]) - float(a["start_time"])) < 0.1
    assert abs(segment.duration_s - sent_s) <= 0.05 * sent_s

    # Passthrough proof: every payload in the file is the payload we fed.
    assert media.demuxed_payloads(segment.path, "video") == [p.data for p in video]
    assert media.demuxed_payloads(segment.path, "audio") == [p.data for p in audio]

    # Finished files carry Cues: seeking to 3 s lands on the keyframe at 2 s.
    with av.open(str(segment.path)) as container:
        stream = container.streams.video[0]
        container.seek(3000, stream=stream, backward=True)  # stream time base is 1/1000
        landed = next(container.demux(stream))
        assert (landed.pts, landed.is_keyframe) == (2000, True)

    # The summary fingerprints the file as it is on disk.
    assert segment.sha256 == hashlib.sha256(segment.path.read_bytes()).hexdigest()
    assert segment.size_bytes == segment.path.stat().st_size


async def test_h264_is_recorded_into_matroska_with_identical_nal_units(
    tmp_path: Path, media: Any
) -> None:
    video = media.video_packets("h264", 640, 480, 5.0)
    audio = media.audio_packets(5.0)
    summary = await record(tmp_path, media, media.interleave(video, audio))

    (segment,) = summary.segments
    assert segment.path.name == "guardian-001.mkv"
    probe = media.ffprobe(segment.path, "-count_packets", "-count_frames")
    assert probe["format"]["format_name"] == "matroska,webm"
    v = media.stream_of(probe, "video")
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 640, 480)
    assert int(v["nb_read_packets"]) == len(video)
    assert int(v["nb_read_frames"]) == len(video)
    assert int(media.stream_of(probe, "audio")["nb_read_packets"]) == len(audio)
    assert abs(float(probe["format"]["duration"]) - 5.0) <= 0.25

    # Matroska frames H.264 with length prefixes instead of start codes (the
    # muxer's only change); the NAL units themselves are untouched.
    recorded = media.demuxed_payloads(segment.path, "video")
    assert [h264_length_prefixed_units(r) for r in recorded] == [
        h264_nal_units(p.data) for p in video
    ]


async def test_tracks_are_anchored_on_arrival_so_late_video_stays_in_sync(
    tmp_path: Path, media: Any
) -> None:
    # The camera's first frame arrives 0.4 s after the first audio packet; both
    # media clocks start at 0. In the file, video must start 0.4 s in.
    audio = media.audio_packets(4.0)
    video = media.video_packets("vp8", 640, 480, 3.6, start=0.4)
    summary = await record(tmp_path, media, media.interleave(video, audio))

    (segment,) = summary.segments
    probe = media.ffprobe(segment.path)
    a_start = float(media.stream_of(probe, "audio")["start_time"])
    v_start = float(media.stream_of(probe, "video")["start_time"])
    assert abs((v_start - a_start) - 0.4) < 0.1
    assert segment.wall_clock_start == audio[0].arrival


async def test_leading_inter_frames_are_dropped_and_counted(tmp_path: Path, media: Any) -> None:
    video = media.video_packets("vp8", 640, 480, 3.0)
    audio = media.audio_packets(3.0)
    # Join mid-GOP: the first 10 frames are inter-frames of a GOP we never saw.
    late_video = video[50:]
    assert not late_video[0].keyframe
    keyframe_at = next(i for i, p in enumerate(late_video) if p.keyframe)
    requests: list[int] = []
    recording = ParticipantRecording(
        tmp_path, "physician", request_keyframe=lambda: requests.append(1)
    )
    recording.start()
    media.feed(recording, media.interleave(late_video, audio))
    summary = await recording.finish()

    (segment,) = summary.segments
    assert segment.video.dropped_before_keyframe == keyframe_at
    assert segment.video.packets_written == len(late_video) - keyframe_at
    assert summary.video.accounted == summary.video.received == len(late_video)
    assert requests, "a keyframe should have been requested"
    v = media.stream_of(media.ffprobe(segment.path, "-count_frames"), "video")
    assert int(v["nb_read_frames"]) == len(late_video) - keyframe_at


async def test_packets_after_finish_are_refused_and_counted(tmp_path: Path, media: Any) -> None:
    audio = media.audio_packets(1.0)
    recording = ParticipantRecording(tmp_path, "guardian")
    recording.start()
    media.feed(recording, audio[:40])
    await recording.finish()
    assert media.feed(recording, audio[40:]) == 0
    assert recording.packets_after_finish == 10

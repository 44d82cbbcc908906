"""Media flows between two stand-in browsers through ConsultMedia without transcoding."""

from __future__ import annotations

import logging

import pytest

from media.bitstream import is_keyframe

PARAMS = pytest.mark.parametrize(
    ("mimes", "codec"),
    [(("video/VP8",), "vp8"), (("video/H264/42e01f",), "h264")],
    ids=["vp8", "h264"],
)


@PARAMS
async def test_encoded_bytes_arrive_unchanged(
    make_consult, make_client, connected, codec_tap, wait, settled, mimes, codec
):
    consult = make_consult()
    physician = make_client("physician", size=(320, 240), video_mimes=mimes)
    guardian = make_client("guardian", size=(160, 120), video_mimes=mimes)
    # Only the physician's camera and microphone run: every encode is the physician's,
    # every decode is the guardian's.
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    assert consult.media.video_codec() == codec

    await wait(lambda: len(guardian.received["video"].pts) >= 30, 10, "30 frames at the guardian")
    await wait(lambda: len(guardian.received["audio"].pts) >= 50, 10, "50 Opus frames")
    physician.video.stop()
    physician.audio.stop()
    await settled(
        lambda: ({k: len(v) for k, v in codec_tap.decoded.items()}, len(consult.sink.packets))
    )

    for name, kind, held_back in ((codec, "video", 2), ("opus", "audio", 5)):
        sent, got = codec_tap.encoded[name], codec_tap.decoded[name]
        assert got, f"the guardian decoded no {name}"
        # The server's legs were reading before the first frame: nothing may be missing.
        assert got == sent[: len(got)], f"{name} bytes at the guardian differ from the physician's"
        # The guardian's own jitter buffer holds back the last frame (audio: 4 packets).
        assert len(sent) - len(got) <= held_back, f"{name}: {len(sent) - len(got)} frames missing"
        # The server saw exactly what the physician encoded, the last frame included: its
        # video buffer releases a frame at its marker, not when the next frame starts.
        recorded = [bytes(p) for p in consult.sink.of("physician", kind)]
        assert recorded == sent
        # Every encode() was the physician's client, and the server did not even
        # re-packetise: the physician's RTP payloads went out under the leg's header.
        assert codec_tap.encode_calls[name] == len(sent)
        assert codec_tap.pack_calls[name] == 0
        (leg,) = [
            x for x in consult.media.stats()["roles"]["guardian"]["outbound"] if x["kind"] == kind
        ]
        assert leg["rtp"]["frames"] >= len(got)
        assert leg["rtp"]["packets"] >= leg["rtp"]["frames"]
    assert is_keyframe(codec, codec_tap.decoded[codec][0])
    assert guardian.received["video"].sizes[-1] == (320, 240)


@PARAMS
async def test_both_parties_see_and_hear_each_other(
    make_consult, make_client, connected, wait, mimes, codec
):
    consult = make_consult()
    physician = make_client("physician", size=(320, 240), rgb=(220, 30, 30), video_mimes=mimes)
    guardian = make_client("guardian", size=(160, 120), rgb=(30, 30, 220), video_mimes=mimes)
    await connected(consult, {"physician": physician, "guardian": guardian})

    await wait(
        lambda: all(len(c.received["video"].pts) >= 20 for c in (physician, guardian)),
        10,
        "20 frames each way",
    )
    # Each side sees the other's camera: size and colour of the far end.
    assert guardian.received["video"].sizes[-1] == (320, 240)
    assert physician.received["video"].sizes[-1] == (160, 120)
    red = guardian.received["video"].colours[-1]
    blue = physician.received["video"].colours[-1]
    assert red[0] > 150 and red[2] < 90, red
    assert blue[2] > 150 and blue[0] < 90, blue
    await wait(
        lambda: all(len(c.received["audio"].pts) >= 25 for c in (physician, guardian)),
        5,
        "audio each way",
    )


async def test_sink_gets_every_packet_that_is_forwarded(
    make_consult, make_client, connected, wait, settled, caplog
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(guardian.received["video"].pts) >= 20, 10, "video at the guardian")
    for c in (physician, guardian):
        c.video.stop()
        c.audio.stop()
    # Settle on the frames, not the whole stats: RTCP keeps flowing (and srtp_direct keeps
    # counting it) after the cameras stop, so the full stats may never be quiet for 0.3 s.
    await settled(
        lambda: [
            (r["received"], r["forwarded"], len(consult.sink.of(role, "video")))
            for role, r in consult.media.stats()["roles"].items()
        ]
    )

    roles = consult.media.stats()["roles"]
    for role, other in (("physician", "guardian"), ("guardian", "physician")):
        for kind in ("audio", "video"):
            recorded = consult.sink.of(role, kind)
            received = roles[role]["received"][kind]
            forwarded = roles[other]["forwarded"][kind]
            assert len(recorded) == received == forwarded > 0, (role, kind)
            codecs = {c for r, k, c, _ in consult.sink.packets if r == role and k == kind}
            assert codecs == {"opus" if kind == "audio" else "vp8"}
            pts = [p.pts for p in recorded]
            assert pts == sorted(pts) and pts[0] == 0
            assert recorded[0].is_keyframe

    # The sink's packets are its own: rebasing them (as a muxer does) changes nothing else.
    first = consult.sink.of("physician", "video")[0]
    first.pts = 123456
    assert consult.sink.of("physician", "video")[1].pts != 123456
    track_started = consult.events_of("track_started")
    assert {(e.role, e.detail["media"]) for e in track_started} == {
        (r, k) for r in ("physician", "guardian") for k in ("audio", "video")
    }
    # Closing logs what each party's link delivered and lost, kept past the consult.
    with caplog.at_level(logging.INFO, logger="media.consult_media"):
        await consult.media.close()
    (closed,) = [r for r in caplog.records if "consult media closed" in r.getMessage()]
    assert closed.consult == "c-test"
    for role in ("physician", "guardian"):
        for kind in ("audio", "video"):
            figures = closed.received[role][kind]
            assert figures["frames"] == roles[role]["received"][kind] > 0
            assert figures["holes_skipped"] == 0 and figures["late_packets"] >= 0


async def test_transcoding_relay_reencodes(make_consult, make_client, connected, codec_tap, wait):
    consult = make_consult(forwarding="transcoding")
    physician = make_client("physician", size=(320, 240))
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    await wait(lambda: len(guardian.received["video"].pts) >= 15, 10, "relayed video")
    await wait(lambda: len(guardian.received["audio"].pts) >= 10, 5, "relayed audio")
    assert guardian.received["video"].sizes[-1] == (320, 240)
    # The baseline really decodes and encodes: the server's encoder ran and the
    # guardian got different bytes from those the physician sent.
    assert codec_tap.encode_calls["vp8"] > physician.video.frames_produced
    original = [bytes(p) for p in consult.sink.of("physician", "video")]
    same = [b for b in codec_tap.decoded["vp8"] if b in set(original)]
    assert len(same) < len(codec_tap.decoded["vp8"]) / 2  # a synthetic keyframe may coincide
    # The recorder still gets the physician's original encoded frames.
    assert original[0] == codec_tap.encoded["vp8"][0]

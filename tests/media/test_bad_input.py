"""Bad input from one party gets a typed error and leaves the other party alone."""

from __future__ import annotations

import asyncio
import re

import pytest

from media.errors import InvalidCandidate, InvalidOffer, MediaError, NoPeerYet, UnsupportedCodecs


def only_vp9_video(sdp: str) -> str:
    """A real offer's video m-line munged to offer only VP9, as e.g. a VP9-only encoder would."""
    head, _, video = sdp.partition("m=video")
    video = "m=video" + video
    vp8_pt = re.search(r"a=rtpmap:(\d+) VP8/90000", video).group(1)
    lines = []
    for line in video.split("\r\n"):
        if line.startswith("m=video"):
            parts = line.split(" ")
            line = " ".join([*parts[:3], vp8_pt])
        elif line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
            pt = line.split(":", 1)[1].split(" ", 1)[0]
            if pt != vp8_pt:
                continue
            line = line.replace("VP8/90000", "VP9/90000")
        lines.append(line)
    return head + "\r\n".join(lines)


def only_pcmu_audio(sdp: str) -> str:
    head, _, rest = sdp.partition("m=audio")
    audio, sep, tail = ("m=audio" + rest).partition("m=video")
    out = []
    for line in audio.split("\r\n"):
        if line.startswith("m=audio"):
            line = " ".join([*line.split(" ")[:3], "0"])
        elif line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")) and not line.startswith(
            "a=rtpmap:0 "
        ):
            continue
        out.append(line)
    return head + "\r\n".join(out) + sep + tail


@pytest.mark.parametrize(
    ("sdp", "says"),
    [
        ("", "empty"),
        ("hello", "v=0"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "no media"),
        ("v=0\r\nthis is not sdp\r\n", "malformed"),
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", "ICE"),
    ],
)
async def test_malformed_offer_is_refused(make_consult, sdp, says):
    consult = make_consult()
    with pytest.raises(InvalidOffer, match=says):
        await consult.media.answer("guardian", sdp)
    assert consult.media.stats()["roles"] == {}


async def test_offer_without_rtcp_mux_is_refused(make_consult, make_client):
    consult = make_consult()
    sdp = (await make_client("guardian").offer()).replace("a=rtcp-mux\r\n", "")
    with pytest.raises(InvalidOffer, match="rtcp-mux"):
        await consult.media.answer("guardian", sdp)


async def test_unusable_codecs_are_refused_and_the_other_party_is_unaffected(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician")
    await connected(consult, {"physician": physician})
    await wait(lambda: consult.media.stats()["roles"]["physician"]["received"]["video"] > 5, 5)

    guardian = make_client("guardian")
    offer = await guardian.offer()
    with pytest.raises(UnsupportedCodecs, match="VP9"):
        await consult.media.answer("guardian", only_vp9_video(offer))
    with pytest.raises(UnsupportedCodecs, match="Opus"):
        await consult.media.answer("guardian", only_pcmu_audio(offer))

    # The physician's session carries on, and the guardian can still join properly.
    before = consult.media.stats()["roles"]["physician"]["received"]["video"]
    await wait(
        lambda: consult.media.stats()["roles"]["physician"]["received"]["video"] > before + 5
    )
    assert consult.media.stats()["roles"]["physician"]["connection_state"] == "connected"
    await guardian.accept(await consult.media.answer("guardian", offer))
    await wait(lambda: len(guardian.received["video"].pts) >= 5, 10, "video at the guardian")


async def test_second_party_must_use_the_consults_video_codec(make_consult, make_client, connected):
    consult = make_consult()
    physician = make_client("physician", video_mimes=("video/VP8",))
    await connected(consult, {"physician": physician})
    assert consult.media.video_codec() == "vp8"

    safari_like = make_client("guardian", video_mimes=("video/H264/42e01f",))
    with pytest.raises(UnsupportedCodecs, match="vp8"):
        await consult.media.answer("guardian", await safari_like.offer())
    assert consult.media.video_codec() == "vp8"


async def test_h264_fallback_when_the_offer_has_no_vp8(make_consult, make_client, connected, wait):
    consult = make_consult()
    physician = make_client("physician", video_mimes=("video/H264/42e01f", "video/H264/42001f"))
    guardian = make_client("guardian")  # offers VP8 first, H.264 too
    await connected(consult, {"physician": physician, "guardian": guardian})
    assert consult.media.video_codec() == "h264"
    await wait(lambda: len(guardian.received["video"].pts) >= 5, 10, "H.264 at the guardian")
    assert (
        consult.events_of("video_codec_fixed")[0].detail["label"] == "h264 (constrained-baseline)"
    )


async def test_ice_candidates_before_the_offer_are_refused(make_consult, make_client):
    consult = make_consult()
    candidate = {
        "candidate": "candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    with pytest.raises(NoPeerYet):
        await consult.media.add_ice_candidate("guardian", candidate)
    with pytest.raises(NoPeerYet):
        await consult.media.request_keyframe("guardian")


@pytest.mark.parametrize(
    "candidate",
    [
        {"candidate": "candidate:garbage", "sdpMid": "0"},
        {"candidate": "candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host"},
        {"candidate": "candidate:1 1 udp prio 192.0.2.2 50000 typ host", "sdpMid": "0"},
        {"candidate": "candidate:1 1 sctp 1 192.0.2.2 50000 typ host", "sdpMid": "0"},
        {"sdpMid": "0"},
        "candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host",
    ],
)
async def test_malformed_candidates_are_refused(make_consult, make_client, candidate):
    consult = make_consult()
    guardian = make_client("guardian")
    await guardian.accept(await consult.media.answer("guardian", await guardian.offer()))
    with pytest.raises(InvalidCandidate):
        await consult.media.add_ice_candidate("guardian", candidate)


async def test_trickled_candidates_and_end_of_candidates_are_taken(make_consult, make_client):
    consult = make_consult()
    guardian = make_client("guardian")
    await guardian.accept(await consult.media.answer("guardian", await guardian.offer()))
    await consult.media.add_ice_candidate(
        "guardian",
        {
            "candidate": "candidate:9 1 udp 2130706431 192.0.2.2 50009 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        },
    )
    # a candidate of an older ICE session is ignored, not an error
    await consult.media.add_ice_candidate(
        "guardian",
        {
            "candidate": "candidate:9 1 udp 2130706431 192.0.2.2 50010 typ host",
            "sdpMid": "0",
            "usernameFragment": "stale",
        },
    )
    await consult.media.add_ice_candidate("guardian", {"candidate": "", "sdpMid": "0"})
    await consult.media.add_ice_candidate("guardian", None)


async def test_errors_are_media_errors_and_closed_consult_refuses(make_consult, make_client):
    consult = make_consult()
    await consult.media.close()
    with pytest.raises(MediaError, match="closed"):
        await consult.media.answer("guardian", await make_client("guardian").offer())


async def test_a_bad_renegotiation_leaves_the_running_session_alone(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(guardian.received["video"].pts) >= 5, 10, "video at the guardian")

    with pytest.raises(UnsupportedCodecs):
        await consult.media.answer("physician", only_vp9_video(await physician.offer()))
    with pytest.raises(InvalidOffer):
        await consult.media.answer("physician", "v=0\r\ngarbage")

    seen = len(guardian.received["video"].pts)
    await wait(lambda: len(guardian.received["video"].pts) >= seen + 10, 5, "video still flowing")
    roles = consult.media.stats()["roles"]
    assert roles["physician"]["connection_state"] == "connected"
    assert roles["physician"]["peer_generation"] == 1


async def test_a_candidate_trickled_during_the_answer_waits_for_it(make_consult, make_client):
    consult = make_consult()
    guardian = make_client("guardian")
    answering = asyncio.create_task(consult.media.answer("guardian", await guardian.offer()))
    await asyncio.sleep(0)  # the answer is under way (ICE gathering)
    await consult.media.add_ice_candidate(
        "guardian",
        {"candidate": "candidate:9 1 udp 2130706431 192.0.2.2 50009 typ host", "sdpMid": "0"},
    )
    assert answering.done()
    await guardian.accept(answering.result())

"""Reading offers and candidates; choosing the consult's codecs."""

from __future__ import annotations

import pytest

from media.codec_policy import H264_BASE, H264_CB, VP8, choose_video_codec, h264_profile
from media.errors import InvalidCandidate, UnsupportedCodecs
from media.session_description import parse_candidate, parse_offer

CHROME_LIKE = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=fingerprint:sha-256 AB:CD",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:u1",
        "a=ice-pwd:p1p1p1p1p1p1p1p1p1p1p1p1",
        "a=mid:0",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:u1",
        "a=ice-pwd:p1p1p1p1p1p1p1p1p1p1p1p1",
        "a=mid:1",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:102 H264/90000",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=rtpmap:103 H264/90000",
        "a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:98 VP9/90000",
        "a=ssrc-group:FID 111 222",
        "a=ssrc:111 cname:x",
        "a=ssrc:222 cname:x",
        "",
    ]
)


def test_parse_a_browser_offer():
    offer = parse_offer(CHROME_LIKE)
    audio, video = offer.media
    assert (audio.kind, audio.mid, video.mid) == ("audio", "0", "1")
    assert audio.codec_names() == ["OPUS", "PCMU"]  # PCMU from the static payload type
    assert video.fingerprint == "sha-256 ab:cd"  # from the session level
    assert video.ssrcs == (111, 222) and video.rtx_ssrcs == frozenset({222})
    assert video.codecs[2].parameters["profile-level-id"] == "42001f"
    assert offer.transport_identity() == (frozenset({"u1"}), frozenset({"sha-256 ab:cd"}))


def test_vp8_is_preferred_then_h264_constrained_baseline():
    video = parse_offer(CHROME_LIKE).of_kind("video")
    assert choose_video_codec(video, None) == VP8
    no_vp8 = parse_offer(CHROME_LIKE.replace("VP8/90000", "VP7/90000")).of_kind("video")
    assert choose_video_codec(no_vp8, None) == H264_CB
    assert choose_video_codec(no_vp8, H264_CB) == H264_CB
    with pytest.raises(UnsupportedCodecs, match="fixed by the first party"):
        choose_video_codec(no_vp8, VP8)
    baseline_only = parse_offer(
        CHROME_LIKE.replace("VP8/90000", "VP7/90000").replace("42e01f", "640c1f")
    ).of_kind("video")
    assert choose_video_codec(baseline_only, None) == H264_BASE
    mode0 = parse_offer(
        CHROME_LIKE.replace("VP8/90000", "VP7/90000").replace(
            "packetization-mode=1", "packetization-mode=0"
        )
    ).of_kind("video")
    with pytest.raises(UnsupportedCodecs, match="packetization-mode=1"):
        choose_video_codec(mode0, None)


def test_h264_profiles():
    assert h264_profile({"profile-level-id": "42e01f"}) == "constrained-baseline"
    assert h264_profile({"profile-level-id": "42C02A"}) == "constrained-baseline"
    assert h264_profile({"profile-level-id": "4d801f"}) == "constrained-baseline"
    assert h264_profile({"profile-level-id": "42001f"}) == "baseline"
    assert h264_profile({"profile-level-id": "640c1f"}) is None
    assert h264_profile({}) == "constrained-baseline"
    assert h264_profile({"profile-level-id": "zz"}) is None


def test_candidates():
    c = parse_candidate(
        {
            "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx "
            "raddr 10.0.0.2 rport 46154 generation 0 ufrag u1 network-cost 999",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
    )
    assert (c.ip, c.port, c.type, c.relatedAddress, c.relatedPort) == (
        "203.0.113.7",
        46154,
        "srflx",
        "10.0.0.2",
        46154,
    )
    assert parse_candidate(None) is None
    assert parse_candidate({"candidate": "", "sdpMid": "0"}) is None
    with pytest.raises(InvalidCandidate):
        parse_candidate({"candidate": "candidate:1 1 udp 1 1.2.3.4 99999 typ host", "sdpMid": "0"})
    with pytest.raises(InvalidCandidate):
        parse_candidate(
            {"candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host", "sdpMLineIndex": True}
        )

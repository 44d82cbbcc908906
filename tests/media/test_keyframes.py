"""Keyframe requests travel upstream: from the receiving browser, on a new leg, on demand."""

from __future__ import annotations

import asyncio

import aiortc.rtp

from media.bitstream import vp8_is_keyframe

from .conftest import rembs_heard_by


def keyframes(frames: list[bytes]) -> int:
    return sum(1 for f in frames if vp8_is_keyframe(f))


async def send_pli(client, media_ssrc: int) -> None:
    """What a browser does when its decoder lost the picture (RFC 4585 §6.3.1)."""
    receiver = client.video_transceiver.receiver
    await receiver._send_rtcp_pli(media_ssrc)  # aiortc's own client-side PLI


async def test_pli_from_receiving_browser_reaches_sending_browser(
    make_consult, make_client, connected, codec_tap, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    await wait(lambda: len(codec_tap.decoded["vp8"]) >= 10, 10, "video at the guardian")
    await asyncio.sleep(0.6)  # past the rate-limit window of the start-up request
    # aiortc's encoder makes one keyframe per 3000 frames: any further one was requested.
    before_sent = keyframes(codec_tap.encoded["vp8"])
    before_got = keyframes(codec_tap.decoded["vp8"])

    await send_pli(guardian, guardian.server_ssrc("video"))

    await wait(lambda: keyframes(codec_tap.encoded["vp8"]) > before_sent, 3, "a new keyframe")
    await wait(
        lambda: keyframes(codec_tap.decoded["vp8"]) > before_got, 3, "it reaching the guardian"
    )
    leg = consult.media.stats()["roles"]["guardian"]["outbound"][1]
    assert leg["kind"] == "video" and leg["downstream_keyframe_requests"] >= 1
    assert any(
        e.detail["reason"] == "downstream_pli"
        for e in consult.events_of("keyframe_requested", "physician")
    )


async def test_keyframe_requests_are_rate_limited(
    make_consult, make_client, connected, codec_tap, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    await wait(lambda: len(codec_tap.decoded["vp8"]) >= 10, 10, "video at the guardian")
    await asyncio.sleep(0.6)
    plis_before = consult.media.stats()["roles"]["physician"]["keyframe_requests"]
    keys_before = keyframes(codec_tap.encoded["vp8"])

    ssrc = guardian.server_ssrc("video")
    for _ in range(10):  # a burst, as a browser on a lossy link might send
        await send_pli(guardian, ssrc)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.8)

    plis = consult.media.stats()["roles"]["physician"]["keyframe_requests"] - plis_before
    # One at once, one coalesced at the end of the 500 ms window (or none if a keyframe came first).
    assert 1 <= plis <= 2, plis
    assert 1 <= keyframes(codec_tap.encoded["vp8"]) - keys_before <= 2


async def test_a_new_downstream_leg_starts_on_a_requested_keyframe(
    make_consult, make_client, connected, codec_tap, wait
):
    consult = make_consult()
    physician = make_client("physician")
    await connected(consult, {"physician": physician})
    await wait(lambda: len(codec_tap.encoded["vp8"]) >= 30, 10, "the physician sending alone")
    assert keyframes(codec_tap.encoded["vp8"]) == 1  # only the very first frame

    guardian = make_client("guardian")
    await guardian.join(consult.media, "guardian")
    await wait(lambda: len(guardian.received["video"].pts) >= 5, 5, "video at the late guardian")

    # The guardian's first frame is a fresh keyframe requested for its leg, well
    # before aiortc's encoder would have made one by itself.
    assert vp8_is_keyframe(codec_tap.decoded["vp8"][0])
    assert keyframes(codec_tap.encoded["vp8"]) >= 2
    reasons = {e.detail["reason"] for e in consult.events_of("keyframe_requested", "physician")}
    assert reasons & {"downstream_started", "leg_bound"}, reasons


async def test_request_keyframe_on_demand(make_consult, make_client, connected, codec_tap, wait):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("guardian",))
    await wait(lambda: len(codec_tap.decoded["vp8"]) >= 10, 10, "video at the physician")
    await asyncio.sleep(0.6)
    before = keyframes(codec_tap.encoded["vp8"])
    # e.g. the still-capture fallback wants a decodable picture from the guardian now
    await consult.media.request_keyframe("guardian")
    await wait(
        lambda: keyframes(codec_tap.encoded["vp8"]) > before, 3, "a keyframe from the guardian"
    )


async def test_downstream_bandwidth_estimate_caps_the_sender(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    await wait(lambda: len(guardian.received["video"].pts) >= 10, 10, "video at the guardian")

    heard = rembs_heard_by(physician)

    # The guardian's phone reports it can only take 150 kbit/s.
    receiver = guardian.video_transceiver.receiver
    remb = aiortc.rtp.RtcpPsfbPacket(
        fmt=aiortc.rtp.RTCP_PSFB_APP,
        ssrc=guardian.video_transceiver.sender._ssrc,
        media_ssrc=0,
        fci=aiortc.rtp.pack_remb_fci(150_000, [guardian.server_ssrc("video")]),
    )
    await receiver._send_rtcp(remb)

    await wait(lambda: any(b <= 150_000 for b in heard), 3, "the cap reaching the physician")
    inbound = consult.media.stats()["roles"]["physician"]["inbound"]["video"]
    assert inbound["remb_cap"] == 150_000 and inbound["rembs_relayed"] >= 1
    # aiortc's own estimate toward the physician never exceeds the cap afterwards.
    count = len(heard)
    await asyncio.sleep(1.5)
    assert all(b <= 150_000 for b in heard[count - 1 :]), heard


async def test_a_stalled_leg_drops_to_a_keyframe_and_recovers(
    make_consult, make_client, connected, codec_tap, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    await wait(lambda: len(guardian.received["video"].pts) >= 10, 10, "video at the guardian")
    await asyncio.sleep(0.6)

    # Stall the server's sender toward the guardian (as a transport that cannot take
    # packets would): it refuses frames in-call and its task holds its reads; the leg's
    # queue is made small to fill fast.
    leg = next(x for x in consult.media._parties["guardian"].peer.legs if x.kind == "video")
    forwarder = leg.forwarder
    forwarder.queue_limit = 10
    release = asyncio.Event()
    original = forwarder.next_frame

    async def stalled():
        await release.wait()
        return await original()

    forwarder.next_frame = stalled
    forwarder.send_in_call(lambda payloads, pts: False)
    await wait(lambda: consult.events_of("queue_overflow", "guardian"), 5, "the queue overflowing")
    overflow = consult.events_of("queue_overflow", "guardian")[0]
    assert overflow.detail["media"] == "video" and overflow.detail["dropped"] >= 10
    keys_before = keyframes(codec_tap.decoded["vp8"])
    decoded_before = len(codec_tap.decoded["vp8"])

    release.set()
    forwarder.next_frame = original
    forwarder.send_in_call(leg.rtp.send_now)
    seen = len(guardian.received["video"].pts)
    await wait(lambda: len(guardian.received["video"].pts) >= seen + 15, 5, "video after the stall")
    # It resumed on a fresh keyframe (requested by the overflow), never mid-GOP: the
    # guardian's jitter buffer still held the last frame before the stall, then the key.
    resumed = codec_tap.decoded["vp8"][decoded_before : decoded_before + 2]
    assert any(vp8_is_keyframe(f) for f in resumed)
    assert keyframes(codec_tap.decoded["vp8"]) > keys_before
    reasons = [e.detail["reason"] for e in consult.events_of("keyframe_requested", "physician")]
    assert "queue_overflow" in reasons
    assert forwarder.stats().dropped_overflow >= 10

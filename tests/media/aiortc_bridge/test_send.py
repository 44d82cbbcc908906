"""A downstream leg's RTP sent by the bridge: a packet lost on the downlink is resent over
RTX, the Sender Reports count what the leg sent, and a sender's RTCP feedback is seen."""

from __future__ import annotations

import asyncio
import datetime
import types
from typing import Any

import aiortc
import aiortc.rtp
import pytest
from aiortc import RTCRtpSender

from media.aiortc_bridge.send import hook_sender, sender_ssrc

from ..conftest import DropOnePacket

pytestmark = pytest.mark.bridge


async def test_sender_hook_reports_pli_and_remb_and_keeps_aiortcs_handling():
    sender = RTCRtpSender("video", types.SimpleNamespace(state="new"))
    seen = []
    hook_sender(sender, on_keyframe_request=seen.append, on_remb=seen.append)
    ssrc = sender_ssrc(sender)
    await sender._handle_rtcp_packet(
        aiortc.rtp.RtcpPsfbPacket(fmt=aiortc.rtp.RTCP_PSFB_PLI, ssrc=9, media_ssrc=ssrc)
    )
    await sender._handle_rtcp_packet(
        aiortc.rtp.RtcpPsfbPacket(
            fmt=aiortc.rtp.RTCP_PSFB_APP,
            ssrc=9,
            media_ssrc=0,
            fci=aiortc.rtp.pack_remb_fci(400_000, [ssrc]),
        )
    )
    await sender._handle_rtcp_packet(  # a REMB about someone else's stream
        aiortc.rtp.RtcpPsfbPacket(
            fmt=aiortc.rtp.RTCP_PSFB_APP,
            ssrc=9,
            media_ssrc=0,
            fci=aiortc.rtp.pack_remb_fci(1, [ssrc + 1]),
        )
    )
    assert seen == ["pli", 400_000]
    assert sender._RTCRtpSender__force_keyframe  # aiortc's own handling still ran
    await asyncio.sleep(0)


class DownlinkLoss:
    """Drops one video packet on the server's way to a client, after SRTP, as a lossy
    downlink would; the client's receiver NACKs it like a browser does."""

    def __init__(self, client: Any, video_ssrc: int, *, drop_after: int) -> None:
        self.video = DropOnePacket(video_ssrc, after=drop_after)
        transport = client.video_transceiver.receiver.transport
        original = transport._handle_rtp_data  # aiortc private (test only): RTP after SRTP

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if not self.video.drops(data):
                await original(data, arrival_time_ms)

        transport._handle_rtp_data = handle_rtp_data

    @property
    def dropped_seq(self) -> int | None:
        return self.video.dropped_seq


def guardian_video_leg(consult: Any) -> Any:
    peer = consult.media._parties["guardian"].peer
    return next(leg for leg in peer.legs if leg.kind == "video").rtp


async def test_a_packet_lost_on_the_downlink_is_resent_over_rtx(
    make_consult, make_client, connected, codec_tap, wait, settled
):
    consult = make_consult()
    physician, guardian = make_client("physician"), make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    leg = guardian_video_leg(consult)
    assert leg.layout.rtx_payload_type is not None, "aiortc answers with RTX for video"
    loss = DownlinkLoss(guardian, leg.layout.ssrc, drop_after=30)
    await wait(lambda: loss.dropped_seq is not None, 10, "the packet to drop")
    await wait(lambda: len(codec_tap.decoded["vp8"]) >= 60, 10, "video after the loss")
    physician.video.stop()
    await settled(lambda: len(codec_tap.decoded["vp8"]))

    assert leg.counters.retransmitted >= 1
    assert leg.counters.nacks_too_late == 0
    # The retransmission filled the hole: the guardian decoded every frame in order.
    sent, got = codec_tap.encoded["vp8"], codec_tap.decoded["vp8"]
    assert got == sent[: len(got)]
    assert len(sent) - len(got) <= 2


async def test_sender_reports_count_what_the_leg_sent(make_consult, make_client, connected):
    consult = make_consult()
    physician, guardian = make_client("physician"), make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    leg = guardian_video_leg(consult)

    async def reported() -> Any:
        stats = await guardian.video_transceiver.receiver.getStats()
        return next((s for s in stats.values() if s.type == "remote-outbound-rtp"), None)

    report = None
    for _ in range(40):  # aiortc sends a Sender Report every 0.5-1.5 s
        report = await reported()
        if report is not None and report.packetsSent > 0:
            break
        await asyncio.sleep(0.1)
    assert report is not None and report.ssrc == leg.layout.ssrc
    assert 0 < report.packetsSent <= leg.counters.packets
    assert 0 < report.bytesSent <= leg.counters.octets
    # The report's clock is the wall clock of the server, not some other origin.
    now = datetime.datetime.now(datetime.UTC)
    assert abs((now - report.remoteTimestamp).total_seconds()) < 5

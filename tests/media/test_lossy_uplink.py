"""A lossy uplink: a video packet NACK repairs costs nothing, one it cannot repair costs a
moment and a keyframe, never seconds of frozen video (aiortc's own buffer would hold every
frame behind the hole until 512 packets piled up: ~17 s at these one-packet frames)."""

from __future__ import annotations

import struct
from typing import Any

from media.aiortc_bridge.send import sender_ssrc
from media.bitstream import vp8_is_keyframe
from media.rtp.jitter_buffers import ForwardingVideoBuffer

from .conftest import DropOnePacket


class UplinkLoss:
    """Drops one video RTP packet on a client's way to the server (before SRTP) and, if the
    loss is not to be repaired, every retransmission after it."""

    def __init__(self, client: Any, *, drop_after: int, repairable: bool) -> None:
        sender = client.video_transceiver.sender
        media_ssrcs = {sender_ssrc(sender), sender_ssrc(client.audio_transceiver.sender)}
        self.video = DropOnePacket(sender_ssrc(sender), after=drop_after)
        self.retransmissions_blocked = 0
        transport = sender.transport
        original = transport._send_rtp  # aiortc private (test only): plaintext RTP/RTCP out

        async def send_rtp(data: bytes) -> None:
            if len(data) >= 12 and not 192 <= data[1] <= 223:  # RTP, not RTCP
                if self.video.drops(data):
                    return
                (ssrc,) = struct.unpack_from("!I", data, 8)
                if ssrc not in media_ssrcs and not repairable:
                    self.retransmissions_blocked += 1  # RTX, answering the server's NACK
                    return
            await original(data)

        transport._send_rtp = send_rtp

    @property
    def dropped_seq(self) -> int | None:
        return self.video.dropped_seq


async def physician_on_a_lossy_uplink(
    make_consult: Any, make_client: Any, connected: Any, wait: Any, *, repairable: bool
) -> tuple[Any, Any, UplinkLoss]:
    """A call whose physician loses a video packet 1.5 s in: (consult, physician, loss)."""
    consult = make_consult()
    physician = make_client("physician")
    clients = {"physician": physician, "guardian": make_client("guardian")}
    await connected(consult, clients, start=("physician",))
    # After the answer: BUNDLE gives the transceivers their final transport.
    loss = UplinkLoss(physician, drop_after=45, repairable=repairable)
    await wait(lambda: loss.dropped_seq is not None, 10, "the packet to drop")
    return consult, physician, loss


async def test_a_lost_packet_that_nack_repairs_costs_no_frame(
    make_consult, make_client, connected, codec_tap, wait, settled
):
    consult, physician, _ = await physician_on_a_lossy_uplink(
        make_consult, make_client, connected, wait, repairable=True
    )
    await wait(lambda: len(codec_tap.decoded["vp8"]) >= 90, 10, "video after the loss")
    physician.video.stop()
    await settled(lambda: len(consult.sink.of("physician", "video")))

    assert consult.media.stats()["roles"]["physician"]["inbound"]["video"]["holes_skipped"] == 0
    # The retransmission filled the hole: the server has every frame, byte for byte, in order.
    recorded = [bytes(p) for p in consult.sink.of("physician", "video")]
    assert recorded == codec_tap.encoded["vp8"]


async def test_an_unrepaired_loss_is_skipped_within_a_second_and_a_keyframe_asked_for(
    make_consult, make_client, connected, codec_tap, wait
):
    consult, _, loss = await physician_on_a_lossy_uplink(
        make_consult, make_client, connected, wait, repairable=False
    )
    keyframes_before = keyframes(codec_tap.encoded["vp8"])
    at_loss = len(codec_tap.decoded["vp8"])

    # Video resumes at the guardian within a second, not after ~17 s.
    await wait(
        lambda: len(codec_tap.decoded["vp8"]) >= at_loss + 10,
        ForwardingVideoBuffer.GAP_TIMEOUT_S + 1.0,
        "video at the guardian after the unrepaired loss",
    )
    inbound = consult.media.stats()["roles"]["physician"]["inbound"]["video"]
    assert inbound["holes_skipped"] == 1
    assert loss.retransmissions_blocked >= 1  # the server did NACK; the repair never came
    # The frames behind the hole referenced the lost one: the physician's encoder is asked
    # for a keyframe (aiortc's receiver sends the PLI the buffer flagged) and makes one.
    await wait(lambda: keyframes(codec_tap.encoded["vp8"]) > keyframes_before, 3, "a new keyframe")


def keyframes(frames: list[bytes]) -> int:
    return sum(1 for f in frames if vp8_is_keyframe(f))

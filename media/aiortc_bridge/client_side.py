"""What an aiortc peer standing in for a browser reaches for: the benchmark's load client
(bench/client.py) packetises as aiortc's encoders do, asks its receivers' sources for
keyframes and sends them REMBs, and hears a sender's keyframe requests.

The server never uses this module, so the guard does not check its requirements at
start-up; the bridge's tests (``pytest -m bridge``) do.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from media.aiortc_bridge.guard import Requirement, is_coroutine_function, uses

packetize_vp8: Callable[[bytes, int], list[bytes]] = Vp8Encoder._packetize
"""A VP8 frame's RTP payloads, descriptors included, under ``picture_id`` (what
``Vp8Encoder.pack`` sends)."""


def packetize_h264(access_unit: bytes) -> list[bytes]:
    """An Annex-B access unit's RTP payloads: single NAL units, STAP-A and FU-A, as
    ``H264Encoder.pack`` sends them."""
    return H264Encoder._packetize(H264Encoder._split_bitstream(access_unit))


def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> Coroutine[Any, Any, None]:
    """A PLI about ``media_ssrc`` from ``receiver`` (a browser's picture loss)."""
    return receiver._send_rtcp_pli(media_ssrc)


def send_rtcp(receiver: RTCRtpReceiver, packet: Any) -> Coroutine[Any, Any, None]:
    """Any RTCP packet (a REMB) sent from ``receiver``."""
    return receiver._send_rtcp(packet)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """``callback()`` runs where the sender's encoder would be asked for a keyframe (a PLI
    or FIR from the other peer)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


REQUIREMENTS = (
    Requirement(
        "Vp8Encoder._packetize(buffer, picture_id) -> list of payloads (classmethod)",
        "packetize_vp8",
        lambda: uses(Vp8Encoder.pack, "_packetize") and callable(Vp8Encoder._packetize),
    ),
    Requirement(
        "H264Encoder._packetize(H264Encoder._split_bitstream(access unit))",
        "packetize_h264",
        lambda: uses(H264Encoder.pack, "_packetize", "_split_bitstream"),
    ),
    Requirement(
        "RTCRtpReceiver._send_rtcp_pli(media_ssrc) and _send_rtcp(packet) (coroutines)",
        "send_pli, send_rtcp",
        lambda: (
            is_coroutine_function(RTCRtpReceiver, "_send_rtcp_pli")
            and is_coroutine_function(RTCRtpReceiver, "_send_rtcp")
        ),
    ),
    Requirement(
        "RTCRtpSender._handle_rtcp_packet calls self._send_keyframe() on PLI/FIR",
        "on_keyframe_request",
        lambda: uses(RTCRtpSender._handle_rtcp_packet, "_send_keyframe"),
    ),
)

"""The bridge's guard: every requirement holds on the installed aiortc, aioice and pylibsrtp,
and verification fails loudly when one of them moved."""

from __future__ import annotations

import inspect
import types

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import pylibsrtp
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from media.aiortc_bridge import client_side, guard
from media.errors import ForwardingHookBroken

pytestmark = pytest.mark.bridge

# Every aiortc private name the bridge touches, checked here directly on the installed
# aiortc (independently of guard.check_hooks, which could be wrong too).
RECEIVER_INSTANCE_ATTRIBUTES = (
    "_RTCRtpReceiver__decoder_queue",
    "_RTCRtpReceiver__jitter_buffer",
    "_RTCRtpReceiver__rtcp_ssrc",
)
RECEIVER_METHODS = ("_send_rtcp_pli", "_send_rtcp", "_handle_rtp_packet", "receive")
SENDER_METHODS = ("_handle_rtcp_packet", "_run_rtp", "_run_rtcp")


def test_every_requirement_of_the_hook_holds_on_the_installed_aiortc():
    problems = guard.check_hooks()
    assert not problems, "aiortc internals moved; media/aiortc_bridge/ needs work:\n" + "\n".join(
        problems
    )


def test_what_the_load_client_reaches_for_holds_on_the_installed_aiortc():
    """Not part of the server's start-up check (the server never uses it)."""
    problems = [
        f"{r.name} — needed for: {r.why}" for r in client_side.REQUIREMENTS if not r.check()
    ]
    assert not problems, "\n".join(problems)


def test_private_attributes_are_present_on_the_installed_aiortc():
    assert aiortc.__version__.startswith("1.16."), (
        f"media/aiortc_bridge/ was written against aiortc 1.16, found {aiortc.__version__}"
    )
    handler_names = RTCRtpReceiver._handle_rtp_packet.__code__.co_names
    assert "_RTCRtpReceiver__decoder_queue" in handler_names, (
        "_handle_rtp_packet no longer puts frames into __decoder_queue: FrameHandOff sees nothing"
    )
    assert "get" in aiortc.rtcrtpreceiver.decoder_worker.__code__.co_names, (
        "decoder_worker no longer blocks in input_q.get(): the idle decoder thread would spin"
    )
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    for name in RECEIVER_INSTANCE_ATTRIBUTES:
        assert hasattr(receiver, name), f"RTCRtpReceiver instances lost {name}"
    for name in RECEIVER_METHODS:
        assert callable(getattr(RTCRtpReceiver, name, None)), f"RTCRtpReceiver lost {name}()"
    for name in SENDER_METHODS:
        assert callable(getattr(RTCRtpSender, name, None)), f"RTCRtpSender lost {name}()"
    assert "_ssrc" in RTCRtpSender.__init__.__code__.co_names, "RTCRtpSender lost _ssrc"
    assert "_rtx_ssrc" in RTCRtpSender.__init__.__code__.co_names, "RTCRtpSender lost _rtx_ssrc"
    sender_report = RTCRtpSender._run_rtcp.__code__.co_names
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert f"_RTCRtpSender__{name}" in sender_report, (
            f"Sender Reports no longer come from __{name}: RtpLeg's reports would be wrong"
        )
    assert inspect.iscoroutinefunction(RTCDtlsTransport._send_rtp), (
        "RTCDtlsTransport._send_rtp moved: RtpLeg cannot send"
    )
    assert "data_received" in aioice.ice.StunProtocol.datagram_received.__code__.co_names, (
        "aioice no longer hands datagrams to Connection.data_received: DirectSrtp sees nothing"
    )
    srtp_branch = RTCDtlsTransport._recv_next.__code__.co_names
    for name in ("_rx_srtp", "unprotect", "_handle_rtp_data", "_handle_rtcp_data"):
        assert name in srtp_branch, (
            f"RTCDtlsTransport._recv_next no longer uses {name}: DirectSrtp would skip a step"
        )


@pytest.mark.parametrize(
    ("owner", "attribute", "named"),
    [
        (RTCRtpReceiver, "_send_rtcp_pli", "_send_rtcp_pli"),
        (RTCRtpSender, "_handle_rtcp_packet", "_handle_rtcp_packet"),
        (RTCDtlsTransport, "_send_rtp", "_send_rtp"),
        (RTCDtlsTransport, "_handle_rtp_data", "_handle_rtp_data"),
        (aioice.ice.Connection, "data_received", "Connection.data_received"),
        (aiortc, "__version__", "1.16"),
        (pylibsrtp.Session, "unprotect", "pylibsrtp"),
    ],
)
def test_verification_fails_loudly_when_aiortc_moved(monkeypatch, owner, attribute, named):
    guard.forget_verification()
    if attribute == "__version__":
        monkeypatch.setattr(owner, attribute, "1.17.0")
    else:
        monkeypatch.delattr(owner, attribute)
    try:
        with pytest.raises(ForwardingHookBroken, match=named) as caught:
            guard.verify_aiortc()
        assert "media/aiortc_bridge/" in str(caught.value)
    finally:
        monkeypatch.undo()
        guard.forget_verification()
        guard.verify_aiortc()


def test_a_step_added_to_aiortcs_packet_handler_is_noticed(monkeypatch):
    """ReceiveLane repeats _handle_rtp_packet step for step: a change upstream must be read."""
    original = RTCRtpReceiver._handle_rtp_packet

    async def with_one_more_step(self, packet, arrival_time_ms):
        self.audit_packet(packet)
        await original(self, packet, arrival_time_ms)

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", with_one_more_step)
    problems = guard.check_hooks()
    assert any("ReceiveLane repeats each of its steps" in p for p in problems), problems

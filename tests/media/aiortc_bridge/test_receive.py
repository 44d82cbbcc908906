"""A prepared receiver: frames reach its listener in the call that completed them, its
buffers are the forwarding ones, and its feedback upstream is capped by the legs'."""

from __future__ import annotations

import asyncio
import threading
import types

import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.aiortc_bridge import receive
from media.rtp.jitter_buffers import ForwardingAudioBuffer, ForwardingVideoBuffer

from ..conftest import inbound_rtp as rtp

pytestmark = pytest.mark.bridge

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)


async def test_prepared_receiver_hands_frames_to_its_listener_in_the_same_call(caplog):
    prepared = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    plain = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    hooks = receive.prepare_receiver(prepared, "video")
    # setRemoteDescription creates the remote track after the receiver was prepared
    prepared._track = aiortc.rtcrtpreceiver.RemoteStreamTrack(kind="video")
    assert receive.hand_off_of(plain) is None
    hand_off = receive.hand_off_of(prepared)
    assert hand_off is hooks.hand_off

    # What _handle_rtp_packet does with a completed frame: before a listener, dropped
    # and counted; then handed over inside the put() call, on this (the loop's) thread.
    decoder_queue = prepared._RTCRtpReceiver__decoder_queue
    decoder_queue.put((VP8, JitterFrame(b"\x10\x02\x00", 3000)))
    heard: list[tuple[object, JitterFrame, threading.Thread]] = []
    hooks.deliver_frames_to(
        lambda codec, frame: heard.append((codec, frame, threading.current_thread()))
    )
    decoder_queue.put((VP8, JitterFrame(b"\x11", 6000)))
    decoder_queue.put((VP8, JitterFrame(b"", 9000)))  # a padding-only packet: nothing to hand on
    assert [(c, f.data, f.timestamp, t) for c, f, t in heard] == [
        (VP8, b"\x11", 6000, threading.current_thread())
    ]
    assert (hand_off.frames, hand_off.unheard) == (1, 1)
    assert prepared.track._queue.empty()  # the remote track stays silent

    # A failing listener loses its frame, not the receiver.
    def failing(codec: object, frame: JitterFrame) -> None:
        raise RuntimeError("sink broke")

    hooks.deliver_frames_to(failing)
    decoder_queue.put((VP8, JitterFrame(b"\x11", 12000)))
    assert "frame listener failed" in caplog.text
    hooks.deliver_frames_to(None)
    decoder_queue.put((VP8, JitterFrame(b"\x11", 15000)))
    assert hand_off.unheard == 2

    # aiortc's decoder thread idles in get() until the receiver stops it with put(None).
    worker = threading.Thread(
        target=aiortc.rtcrtpreceiver.decoder_worker,
        args=(asyncio.get_running_loop(), hand_off, prepared.track._queue, threading.Event()),
    )
    worker.start()
    await asyncio.sleep(0.05)
    assert worker.is_alive() and prepared.track._queue.empty()
    decoder_queue.put(None)
    await asyncio.to_thread(worker.join, 5)
    assert not worker.is_alive()
    with pytest.raises(aiortc.MediaStreamError):  # the worker ended the track, as aiortc does
        await asyncio.wait_for(prepared.track.recv(), 5)


async def test_prepared_audio_receiver_uses_the_low_latency_buffer():
    receiver = RTCRtpReceiver("audio", types.SimpleNamespace(state="new"))
    receive.prepare_receiver(receiver, "audio")
    assert isinstance(receive.jitter_buffer_of(receiver), ForwardingAudioBuffer)
    kept = RTCRtpReceiver("audio", types.SimpleNamespace(state="new"))
    receive.prepare_receiver(kept, "audio", low_latency_audio=False)
    assert type(receive.jitter_buffer_of(kept)).__name__ == "JitterBuffer"


async def test_receiver_hooks_cap_aiortcs_own_remb():
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    sent = []

    async def fake_send(packet):
        sent.append(packet)

    receiver._send_rtcp = fake_send
    hooks = receive.prepare_receiver(receiver, "video")
    remb = aiortc.rtp.RtcpPsfbPacket(
        fmt=aiortc.rtp.RTCP_PSFB_APP,
        ssrc=1,
        media_ssrc=0,
        fci=aiortc.rtp.pack_remb_fci(2_000_000, [5]),
    )
    await receiver._send_rtcp(remb)
    hooks.set_remb_cap(300_000)
    await receiver._send_rtcp(remb)
    pli = aiortc.rtp.RtcpPsfbPacket(fmt=aiortc.rtp.RTCP_PSFB_PLI, ssrc=1, media_ssrc=5)
    await receiver._send_rtcp(pli)
    rates = [aiortc.rtp.unpack_remb_fci(p.fci)[0] for p in sent[:2]]
    assert rates[0] == 2_000_000 and rates[1] <= 300_000
    assert sent[2] is pli
    assert hooks.last_estimate == 2_000_000 and hooks.rembs_capped == 1


async def test_prepared_video_receiver_uses_the_forwarding_video_buffer():
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    receive.prepare_receiver(receiver, "video")
    assert isinstance(receive.jitter_buffer_of(receiver), ForwardingVideoBuffer)


async def test_receiver_hooks_report_what_the_forwarding_buffer_threw_away():
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    hooks = receive.prepare_receiver(receiver, "video")
    receiver._RTCRtpReceiver__codecs[96] = VP8  # what receive() fills in
    receiver._track = aiortc.rtcrtpreceiver.RemoteStreamTrack(kind="video")
    buffer = receive.jitter_buffer_of(receiver)
    for seq in (1, 1):  # a duplicate: the second copy is late
        packet = rtp(seq, 3000, b"\x10\x00")
        packet.payload, packet.marker = b"\x10\x00", 1
        buffer.add(packet)
    assert hooks.buffer_counters() == {"late_packets": 1, "holes_skipped": 0}



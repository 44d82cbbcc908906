"""The forwarding jitter buffers: audio leaves at once, a video frame at its marker, a hole
is waited for (NACK/RTX) and then skipped, each frame carries its party's send time."""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp.jitter_buffers import ForwardingAudioBuffer, ForwardingVideoBuffer
from media.rtp.reader import InboundRtp

from ..conftest import inbound_rtp as rtp

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)




def test_forwarding_audio_buffer_releases_at_once_and_drops_late_packets():
    buffer = ForwardingAudioBuffer()
    out = [buffer.add(rtp(seq, seq * 960))[1] for seq in (65534, 65535, 0, 1)]
    assert [f.timestamp for f in out] == [65534 * 960, 65535 * 960, 0, 960]  # across the wrap
    assert buffer.add(rtp(65535, 1))[1] is None  # late
    assert buffer.add(rtp(1, 960))[1] is None  # duplicate
    assert buffer.add(rtp(3, 2880))[1].timestamp == 2880  # a gap is fine
    assert buffer.late_dropped == 2


class VideoBufferHarness:
    """A ForwardingVideoBuffer with a hand-set clock and the frames it handed over."""

    def __init__(self) -> None:
        self.now = 100.0
        self.frames: list[tuple[bytes, int]] = []
        self.buffer = ForwardingVideoBuffer(
            lambda codec, frame: self.frames.append((frame.data, frame.timestamp)),
            {96: VP8}.get,
            clock=lambda: self.now,
        )

    def add(self, seq: int, timestamp: int, data: bytes, marker: bool = False) -> bool:
        packet = rtp(seq & 0xFFFF, timestamp & 0xFFFFFFFF, data)
        packet.marker = int(marker)
        return self.buffer.add(packet)[0]


def test_video_buffer_releases_a_frame_at_its_marker_not_one_frame_later():
    h = VideoBufferHarness()
    h.add(9, 0, b"tail of a frame joined mid-way", marker=True)  # no beginning: not released
    assert h.frames == []
    h.add(10, 3000, b"a")
    h.add(12, 3000, b"c", marker=True)  # out of order
    assert h.frames == []
    h.add(11, 3000, b"b")
    assert h.frames == [(b"abc", 0)]  # complete: out at once, no next frame needed
    h.add(13, 6000, b"d", marker=True)
    assert h.frames[-1] == (b"d", 3000)
    assert h.buffer.frames == 2


def test_video_buffer_holds_frames_behind_a_hole_until_the_retransmission_fills_it():
    h = VideoBufferHarness()
    h.add(0, 0, b"", marker=True)
    h.add(1, 3000, b"k1", marker=True)
    h.add(3, 6000, b"p2", marker=True)  # 2 is lost: p2 may reference it
    h.add(4, 9000, b"p3", marker=True)
    assert [f[0] for f in h.frames] == [b"k1"]
    h.now += 0.2
    assert not h.add(2, 4500, b"p1", marker=True)  # the NACKed packet arrives
    assert [f[0] for f in h.frames] == [b"k1", b"p1", b"p2", b"p3"]
    assert h.add(2, 4500, b"p1", marker=True) is False and h.buffer.late_dropped == 1


def test_video_buffer_skips_an_unrepaired_hole_and_asks_for_a_keyframe():
    h = VideoBufferHarness()
    h.add(65533, 0, b"", marker=True)
    h.add(65534, 3000, b"k", marker=True)
    h.add(0, 6000, b"x", marker=True)  # 65535 never comes (and the numbers wrap)
    assert not h.add(1, 9000, b"y", marker=True)
    h.now += ForwardingVideoBuffer.GAP_TIMEOUT_S + 0.01
    assert h.add(3, 12000, b"z1")  # pli_flag: the hole was given up
    # Resumed after the first frame that ended beyond the hole; what is complete is out.
    assert [f[0] for f in h.frames] == [b"k", b"y"]
    h.add(2, 12000, b"z0")
    h.add(4, 12000, b"z2", marker=True)
    assert [f[0] for f in h.frames] == [b"k", b"y", b"z0z1z2"]
    assert h.buffer.holes_skipped == 1
    assert not h.add(65535, 4500, b"too late", marker=True)
    assert h.buffer.late_dropped == 1


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12),
    start=st.integers(0, 0xFFFF),
    data=st.data(),
)
def test_video_buffer_releases_exactly_the_complete_frames_in_order(sizes, start, data):
    """Any arrival order, any losses, sequence numbers across the wrap: what comes out is
    the run of whole frames up to the first one missing a packet, each once, in order."""
    packets = [(frame, i, i == n - 1) for frame, n in enumerate(sizes) for i in range(n)]
    order = data.draw(st.permutations(range(len(packets))), label="arrival order")
    lost = data.draw(st.sets(st.sampled_from(range(len(packets)))), label="lost")
    h = VideoBufferHarness()
    h.add(start - 1, 0, b"", marker=True)  # the stream starts at `start`
    for k in order:
        if k not in lost:
            frame, i, last = packets[k]
            h.add(start + k, 3000 * (frame + 1), bytes([frame, i]), marker=last)
    # No time passes, so no hole is given up on.
    whole: list[bytes] = []
    first = 0
    for frame, n in enumerate(sizes):
        if any(first + i in lost for i in range(n)):
            break
        whole.append(b"".join(bytes([frame, i]) for i in range(n)))
        first += n
    assert [d for d, _ in h.frames] == whole
    assert [t for _, t in h.frames] == [3000 * f for f in range(len(whole))]
    assert h.buffer.late_dropped == 0 and h.buffer.holes_skipped == 0


def test_a_frame_still_arriving_slowly_is_not_a_hole():
    h = VideoBufferHarness()
    h.add(0, 0, b"", marker=True)
    for seq in range(1, 40):  # a large keyframe paced out over a slow link
        h.now += 0.05
        assert not h.add(seq, 3000, b"k")
    h.add(40, 3000, b"!", marker=True)
    assert h.frames == [(b"k" * 39 + b"!", 0)] and h.buffer.holes_skipped == 0


def test_video_buffer_timestamps_start_at_zero_and_survive_the_32_bit_wrap():
    h = VideoBufferHarness()
    h.add(0, 0xFFFFF000, b"", marker=True)
    h.add(1, 0xFFFFFA00, b"a", marker=True)
    h.add(2, 0x00000200, b"b", marker=True)
    assert [f[1] for f in h.frames] == [0, 0x800]


def _stamped(packet: InboundRtp, send_time: int) -> InboundRtp:
    """``packet`` carrying abs-send-time ``send_time`` as extension 3 (one-byte form)."""
    packet.extension_profile = 0xBEDE
    packet.extension_value = bytes([0x32]) + send_time.to_bytes(3, "big")
    return packet


def test_a_frame_carries_the_send_time_of_the_packet_that_completed_it():
    h = VideoBufferHarness()
    stamps: list[int | None] = []
    h.buffer._deliver = lambda codec, frame: stamps.append(frame.send_time)
    h.buffer.send_time_id = 3

    def add(seq: int, timestamp: int, send_time: int, marker: bool = True) -> None:
        packet = _stamped(rtp(seq, timestamp, b"x"), send_time)
        packet.marker = int(marker)
        h.buffer.add(packet)

    add(0, 0, 99)  # a frame joined mid-way: not released, the stream starts after it
    add(1, 3000, 100, marker=False)
    add(2, 3000, 101)  # the frame's last packet completes it
    add(4, 6000, 120)  # 3 is lost: this frame and the next wait
    add(5, 9000, 130)
    assert stamps == [101]
    h.now += 0.15
    add(3, 4500, 150)  # the retransmission, sent 150 ms after frame 1's end
    # Every frame it released goes out under its time: to the downstream estimate the wait
    # for the repair is not queueing on the path (the party hears of the loss in RRs).
    assert stamps == [101, 150, 150, 150]
    h.buffer.send_time_id = None  # no abs-send-time negotiated with the party
    add(6, 12000, 160)
    assert stamps[-1] is None

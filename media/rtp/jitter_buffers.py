"""The jitter buffers of a forwarding receiver: frames leave as soon as they are whole.

aiortc's receiver holds each packet in a ``JitterBuffer`` until its decoder can take a
frame. A forwarding server has no playout clock to protect (the browser at the far end
runs its own jitter buffer), so :mod:`media.aiortc_bridge.receive` gives a prepared
receiver one of these instead:

* :class:`ForwardingAudioBuffer` releases each Opus packet as it arrives (aiortc's
  ``prefetch=4`` holds four, ~80 ms) and drops only late duplicates/reordered packets.
* :class:`ForwardingVideoBuffer` releases a frame as soon as its marker packet and every
  packet before it are in (aiortc's waits for the next frame's first packet, +1 frame),
  and skips a hole NACK/RTX has not filled within ``GAP_TIMEOUT_S`` to the next frame
  start, asking for a keyframe (aiortc's holds everything behind it until 512 packets
  have piled up: seconds of frozen video).

Both keep the RTP payloads each frame arrived in (:class:`RtpJitterFrame`), so a
downstream leg forwards the packets instead of re-packetising the frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiortc.jitterbuffer
import aiortc.rtcrtpreceiver

from media.bitstream import codec_name
from media.rtp.reader import InboundRtp, abs_send_time_of
from media.rtp.sequence import seq_newer
from media.rtp.writer import RtpPayloads


class RtpJitterFrame(aiortc.jitterbuffer.JitterFrame):
    """A jitter-buffer frame that also keeps the RTP payloads it was depayloaded from,
    so a downstream leg can forward the packets instead of re-packetising the frame,
    and the party's send time of the packet that completed it (``send_time``, see
    :class:`ForwardingVideoBuffer`)."""

    def __init__(
        self, data: bytes, timestamp: int, rtp: RtpPayloads, send_time: int | None = None
    ) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.rtp = rtp
        self.send_time = send_time


class ForwardingAudioBuffer:
    """Replaces aiortc's audio ``JitterBuffer`` on a forwarding receiver.

    Each Opus RTP packet is a whole frame, so it can leave as soon as it arrives:
    aiortc's ``prefetch=4`` adds ~80 ms for a playout smoothness that only the
    browser at the far end needs (it has its own jitter buffer). A packet older
    than the newest one released is dropped: forwarding it would send a
    timestamp backwards, and the browser's Opus PLC covers the gap.
    """

    def __init__(self) -> None:
        self._last_seq: int | None = None
        self.late_dropped = 0

    def add(self, packet: InboundRtp) -> tuple[bool, aiortc.jitterbuffer.JitterFrame | None]:
        seq = packet.sequence_number
        if self._last_seq is not None and not seq_newer(seq, self._last_seq):
            self.late_dropped += 1
            return False, None
        self._last_seq = seq
        rtp: RtpPayloads = ((packet.payload, bool(packet.marker)),) if packet.payload else ()
        return False, RtpJitterFrame(data=packet.data, timestamp=packet.timestamp, rtp=rtp)


class ForwardingVideoBuffer:
    """Replaces aiortc's video ``JitterBuffer`` on a forwarding receiver.

    Packets are kept by sequence number. A frame is the run of packets from the one
    after the previous frame's marker up to the next marker; it is handed over as
    soon as that run is complete, in order, with aiortc's depayloaded bytes joined
    (what aiortc's own buffer would hand its decoder, one frame earlier). The stream
    starts at its first packet if that packet begins a frame (VP8: start of partition
    0; H.264: a NAL unit's start), else after the first marker: a frame whose
    beginning was missed is never handed over.

    A missing packet holds the frames behind it (a decoder must not skip a
    reference) until it arrives (NACK/RTX), ``GAP_TIMEOUT_S`` passes, or
    ``MAX_PACKETS`` are waiting; then the buffer skips to the first complete-able
    frame start after the hole and asks for a keyframe (the ``pli_flag`` aiortc's
    receiver acts on). Frames go to ``deliver(codec, frame)`` directly, so a hole
    that fills releases every frame behind it at once; ``add`` never returns one.

    Each frame carries the abs-send-time (extension ``send_time_id``) of the packet
    whose arrival completed it: its last packet as a rule, the retransmission for a
    frame that waited on a hole, and for the frames behind the hole too. The leg
    forwards the frame under that time, so the downstream browser's bandwidth estimate
    measures the party's uplink as well as the server's downlink. A frame held for a
    repair is not stamped with its own last packet's (earlier) time: the hold is loss
    recovery, which the party's browser hears about in receiver reports, not queueing
    that should read as congestion.
    """

    GAP_TIMEOUT_S = 0.5
    """Long enough for a NACK and its retransmission on a poor link (RTT up to ~400 ms),
    short enough to recover long before aiortc's 512-packet overflow. A frame that is
    merely still arriving (a large keyframe paced out over a slow link) is not a hole."""
    MAX_PACKETS = 512

    def __init__(
        self,
        deliver: Callable[[Any, aiortc.jitterbuffer.JitterFrame], None],
        codec_for: Callable[[int], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliver = deliver
        self._codec_for = codec_for
        self._clock = clock
        self._packets: dict[int, InboundRtp] = {}
        self._next: int | None = None  # first sequence number of the next frame
        # How far the head frame is known to be contiguous from _next: where the next
        # _release resumes its walk, so a frame of n packets costs n steps, not n²/2.
        self._scan: int | None = None
        self._newest = 0
        self._hole_since: float | None = None
        self._timestamps = aiortc.rtcrtpreceiver.TimestampMapper()
        self.send_time_id: int | None = None
        self.frames = 0
        self.late_dropped = 0
        self.holes_skipped = 0

    def add(self, packet: InboundRtp) -> tuple[bool, None]:
        seq = packet.sequence_number
        if self._next is None:
            self._scan = None
            if self._starts_frame(packet):
                self._next = self._newest = seq
            else:
                if packet.marker:
                    self._next = self._newest = (seq + 1) & 0xFFFF
                return False, None
        if seq != self._next and not seq_newer(seq, self._next):
            self.late_dropped += 1  # already released or skipped
            return False, None
        self._packets[seq] = packet
        if seq_newer(seq, self._newest):
            self._newest = seq
        missing = self._release(packet)
        if missing is None or not seq_newer(self._newest, missing):
            # Everything released, or only the newest frame is still arriving.
            self._hole_since = None
            if len(self._packets) < self.MAX_PACKETS:
                return False, None
        now = self._clock()
        if self._hole_since is None:
            self._hole_since = now
        if now - self._hole_since < self.GAP_TIMEOUT_S and len(self._packets) < self.MAX_PACKETS:
            return False, None
        self._skip_hole(packet)
        return True, None

    def _starts_frame(self, packet: InboundRtp) -> bool:
        codec = self._codec_for(packet.payload_type)
        name = codec_name(codec.mimeType) if codec is not None else ""
        payload = packet.payload
        if name == "vp8":
            # VP8 payload descriptor (RFC 7741): S bit set, partition index 0.
            return bool(payload) and payload[0] & 0x17 == 0x10
        if name == "h264":
            # aiortc's depayloader starts a NAL unit with a start code, not a fragment.
            return packet.data.startswith(b"\x00\x00\x00\x01")
        return False

    def _release(self, completing: InboundRtp) -> int | None:
        """Hand over every complete frame at the head, each stamped with ``completing``'s
        send time; the first missing sequence number (None if nothing is waiting)."""
        packets = self._packets
        send_time: int | None = None
        stamped = False
        while packets and self._next is not None:
            seq = self._next if self._scan is None else self._scan
            while seq in packets:
                if packets[seq].marker:
                    break
                seq = (seq + 1) & 0xFFFF
            else:
                self._scan = seq
                return seq  # a hole, or the frame's last packet is still on its way
            run: list[InboundRtp] = []
            position = self._next
            while True:
                run.append(packets.pop(position))
                if position == seq:
                    break
                position = (position + 1) & 0xFFFF
            self._next = (seq + 1) & 0xFFFF
            self._scan = None
            self._hole_since = None
            last = run[-1]
            codec = self._codec_for(last.payload_type)
            if codec is None:
                continue
            data = b"".join([p.data for p in run])
            rtp = tuple([(p.payload, bool(p.marker)) for p in run if p.payload])
            timestamp = self._timestamps.map(last.timestamp)
            if not stamped:  # read once per call, only when a frame leaves
                stamped = True
                if self.send_time_id is not None:
                    send_time = abs_send_time_of(completing, self.send_time_id)
            self.frames += 1
            self._deliver(codec, RtpJitterFrame(data, timestamp, rtp, send_time))
        return None

    def _skip_hole(self, completing: InboundRtp) -> None:
        """Drop the frames the hole broke; resume at the first frame start after it."""
        self.holes_skipped += 1
        start = self._next
        assert start is not None
        ordered = sorted(self._packets, key=lambda s: (s - start) & 0xFFFF)
        resume = next(((s + 1) & 0xFFFF for s in ordered if self._packets[s].marker), None)
        if resume is None:  # no frame ended after the hole: restart at the next marker
            self._packets.clear()
            self._next = None
        else:
            for seq in ordered:
                if (seq - start) & 0xFFFF < (resume - start) & 0xFFFF:
                    del self._packets[seq]
            self._next = resume
        self._scan = None
        self._hole_since = None
        self._release(completing)

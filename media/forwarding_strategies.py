"""Ways of carrying one party's stream to another party: one class per strategy.

A :class:`Forwarder` is one downstream leg (in mediasoup's words, a consumer): it is
fed the :class:`~media.encoded_frame.EncodedFrame` objects of one inbound stream and
exposes :attr:`Forwarder.track`, the ``MediaStreamTrack`` the server's
``RTCRtpSender`` toward the other browser reads from.

* :class:`PassthroughForwarder` (default) hands the encoded frames on untouched: in a
  consult its frames' RTP payloads go out as they arrived, under the leg's own RTP
  header (:func:`media.aiortc_bridge.send.forward_rtp`); read through its track, aiortc's
  sender re-packetises them.
* :class:`TranscodingRelay` decodes and lets aiortc re-encode, as aiortc's usual
  relay does. It exists as the benchmark baseline and is off by default.

A forwarder talks back to its source through the small :class:`Upstream` protocol
(keyframe requests, downstream bandwidth), implemented by
:class:`~media.inbound.InboundStream`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import av
from aiortc import MediaStreamError, MediaStreamTrack
from av.frame import Frame

from media.encoded_frame import EncodedFrame
from media.log import ConsultLog
from media.rtp.writer import RtpPayloads
from media.timeline import ContinuousTimeline

SendNow = Callable[[RtpPayloads, int, int | None], bool]
"""Sends a frame's RTP payloads at a leg timestamp, under the party's send time (or None),
in the calling frame; False if it cannot yet (the packet sender has not started)."""


class Upstream(Protocol):
    """What a downstream leg may ask of the stream it carries."""

    def request_keyframe(self, reason: str) -> None: ...

    def downstream_remb(self, leg: object, bitrate: int, *, covers_uplink: bool) -> None: ...

    def forget_leg(self, leg: object) -> None: ...


@dataclass
class ForwarderStats:
    kind: str
    strategy: str
    started: bool
    pushed: int = 0
    forwarded: int = 0
    queue_depth: int = 0
    dropped_before_start: int = 0
    dropped_awaiting_keyframe: int = 0
    dropped_overflow: int = 0
    overflows: int = 0
    keyframe_requests: int = 0
    downstream_keyframe_requests: int = 0
    source_changes: int = 0
    dropped_without_rtp: int = 0
    last_pts: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ForwardedTrack(MediaStreamTrack):
    """The track a server ``RTCRtpSender`` reads: whatever its forwarder yields."""

    def __init__(self, kind: str, forwarder: Forwarder) -> None:
        super().__init__()
        self.kind = kind
        self._forwarder = forwarder

    async def recv(self) -> av.Packet | Frame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._forwarder.sends_rtp:
            # The leg's packets go out through media.aiortc_bridge.send.RtpLeg; aiortc's own
            # RTP loop keeps reading this track and must get nothing until the end.
            await self._forwarder.wait_closed()
            raise MediaStreamError
        return await self._forwarder.next_item()

    def stop(self) -> None:
        super().stop()
        self._forwarder.close()


class Forwarder(ABC):
    """One downstream leg: one inbound stream carried toward one party's sender.

    Frames pushed before the sender starts reading (the other browser is still
    connecting) are discarded: there is nobody to send them to, and queueing them
    would only delay the live picture. When the sender starts, a video leg asks
    upstream for a keyframe so the other browser can start decoding at once.
    """

    strategy = "abstract"

    def __init__(
        self,
        kind: str,
        log: ConsultLog,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        self.kind = kind
        self.log = log
        self.track: MediaStreamTrack = ForwardedTrack(kind, self)
        self._upstream: Upstream | None = None
        self._on_overflow = on_overflow
        self._closed = False
        self._closed_event = asyncio.Event()
        self.sends_rtp = False
        self._waiter: asyncio.Future[None] | None = None
        self._stats = ForwarderStats(kind=kind, strategy=self.strategy, started=False)
        self._source: int | None = None
        self._need_keyframe = kind == "video"

    # -- wiring ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._stats.started

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def bound(self) -> bool:
        return self._upstream is not None

    def bind(self, upstream: Upstream) -> None:
        """Attach the stream this leg carries (once the party it comes from has joined)."""
        self._upstream = upstream
        if self.started:
            self._request_keyframe("leg_bound")

    def unbind(self) -> None:
        if self._upstream is not None:
            self._upstream.forget_leg(self)
        self._upstream = None

    def downstream_keyframe_request(self, reason: str) -> None:
        """The browser receiving this leg lost a picture (PLI/FIR on our sender)."""
        self._stats.downstream_keyframe_requests += 1

    def downstream_remb(self, bitrate: int) -> None:
        """The browser receiving this leg estimates it can take ``bitrate`` bit/s."""
        # REMB is a video congestion signal; a REMB that also names our audio SSRC
        # must not cap the sending browser twice.
        if self.kind == "video" and self._upstream is not None:
            # A leg that forwards the party's packets forwards their send times, so the
            # browser's estimate measured the party's uplink as well as ours.
            self._upstream.downstream_remb(self, bitrate, covers_uplink=self.sends_rtp)

    def stats(self) -> ForwarderStats:
        self._stats.queue_depth = self._queue_depth()
        return self._stats

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closed_event.set()
        self.unbind()
        self._wake()
        self.track.stop()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    # -- for subclasses ---------------------------------------------------------

    def push(self, frame: EncodedFrame) -> None:
        """A frame arrived from the inbound stream (called on the event loop).

        Frames before the sender reads are dropped; video waits for a keyframe after a
        start or a source change (one lost inter-frame corrupts the picture)."""
        if self._closed:
            return
        stats = self._stats
        stats.pushed += 1
        if not stats.started:
            stats.dropped_before_start += 1
            return
        if frame.source != self._source:
            self._new_source(frame)
            self._source = frame.source
        if self._need_keyframe:
            if not frame.keyframe:
                stats.dropped_awaiting_keyframe += 1
                self._request_keyframe("awaiting_keyframe")
                return
            self._need_keyframe = False
        self._enqueue(frame)

    @abstractmethod
    def _new_source(self, frame: EncodedFrame) -> None:
        """The party reconnected (or the first frame came): ``frame`` is the new source's first."""

    @abstractmethod
    def _enqueue(self, frame: EncodedFrame) -> None:
        """Queue a frame that passed the start and keyframe checks."""

    @abstractmethod
    async def next_item(self) -> av.Packet | Frame:
        """What the sender sends next; raises ``MediaStreamError`` once closed."""

    @abstractmethod
    def _queue_depth(self) -> int: ...

    def _mark_started(self) -> None:
        if not self._stats.started:
            self._stats.started = True
            self.log.debug("%s leg started", self.kind)
            self._request_keyframe("downstream_started")

    def _request_keyframe(self, reason: str) -> None:
        if self.kind == "video" and self._upstream is not None:
            self._stats.keyframe_requests += 1
            self._upstream.request_keyframe(reason)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        if self._closed:
            raise MediaStreamError
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self._closed:
            raise MediaStreamError


class PassthroughForwarder(Forwarder):
    """Hands the encoded frames on untouched; the server never decodes or encodes.

    * Output timestamps stay monotonic across source changes (the party
      reconnecting), so the receiving browser never sees RTP time go backwards.
    * Video is never dropped frame by frame: one lost inter-frame corrupts the
      picture until the next keyframe. The only drops are whole runs that end
      at a keyframe: waiting for the first keyframe of a new source, and the
      overflow policy below.
    * Bounded queue. If the sender stalls and the queue fills, video drops the
      queued frames up to the next queued keyframe; if none is queued it drops
      the queue, waits for a keyframe, and requests one upstream. Audio drops
      the oldest packets (the browser's Opus concealment covers the gap).
    """

    strategy = "passthrough"
    VIDEO_QUEUE_LIMIT = 90
    """About 3 s of 30 fps video."""
    AUDIO_QUEUE_LIMIT = 50
    """1 s of 20 ms Opus packets."""

    def __init__(
        self,
        kind: str,
        log: ConsultLog,
        on_overflow: Callable[[int], None] | None = None,
        queue_limit: int | None = None,
    ) -> None:
        super().__init__(kind, log, on_overflow)
        default_limit = self.VIDEO_QUEUE_LIMIT if kind == "video" else self.AUDIO_QUEUE_LIMIT
        self.queue_limit = queue_limit or default_limit
        self._queue: deque[tuple[EncodedFrame, int]] = deque()
        self._timeline: ContinuousTimeline | None = None
        self._send_now: SendNow | None = None

    def _new_source(self, frame: EncodedFrame) -> None:
        if self._source is not None:
            self._stats.source_changes += 1
        if self.kind == "video" and not frame.keyframe:
            self._need_keyframe = True

    def _enqueue(self, frame: EncodedFrame) -> None:
        if len(self._queue) >= self.queue_limit and not self._make_room(frame):
            return

        if self._timeline is None:
            self._timeline = ContinuousTimeline.for_time_base(frame.time_base)
        pts = self._timeline.map(frame.source, frame.pts, frame.arrival)
        send_now = self._send_now
        if send_now is not None and not self._queue and self._sent_directly(send_now, frame, pts):
            return
        self._queue.append((frame, pts))
        self._wake()

    def _sent_directly(self, send_now: SendNow, frame: EncodedFrame, pts: int) -> bool:
        """Send ``frame`` in this call if the packet sender can; False leaves it to the queue."""
        payloads = self._payloads_of(frame)
        try:
            if payloads and not send_now(payloads, pts, frame.send_time):
                return False
        except Exception as exc:
            # The sender's own task meets the same failure on the queued frame and ends
            # the leg as it always has; until then nothing more is tried in-call.
            self._send_now = None
            if not isinstance(exc, ConnectionError):
                self.log.exception("sending a %s frame in-call failed", self.kind)
            return False
        self._stats.forwarded += 1
        self._stats.last_pts = pts
        return True

    def _make_room(self, frame: EncodedFrame) -> bool:
        """Apply the overflow policy; False if ``frame`` itself must be dropped."""
        stats = self._stats
        stats.overflows += 1
        before = len(self._queue)
        keep_incoming = True
        if self.kind != "video":
            self._queue.popleft()
        elif frame.keyframe:
            self._queue.clear()
        else:
            next_key = next(
                (i for i, (f, _) in enumerate(self._queue) if i > 0 and f.keyframe), None
            )
            if next_key is not None:
                for _ in range(next_key):
                    self._queue.popleft()
            else:
                self._queue.clear()
                self._need_keyframe = True
                keep_incoming = False
                self._request_keyframe("queue_overflow")
        dropped = before - len(self._queue) + (0 if keep_incoming else 1)
        stats.dropped_overflow += dropped
        self.log.warning(
            "%s queue toward a stalled receiver overflowed (%d queued): dropped %d",
            self.kind,
            before,
            dropped,
        )
        if self._on_overflow is not None:
            self._on_overflow(dropped)
        return keep_incoming

    async def next_frame(self) -> tuple[EncodedFrame, int]:
        """The next frame toward the receiver, and its timestamp on the leg's timeline."""
        self._mark_started()
        while not self._queue:
            await self._wait()
        frame, pts = self._queue.popleft()
        self._stats.forwarded += 1
        self._stats.last_pts = pts
        return frame, pts

    async def next_item(self) -> av.Packet:
        frame, pts = await self.next_frame()
        return frame.to_packet(pts)

    def send_rtp(self) -> Callable[[], Awaitable[tuple[RtpPayloads, int, int | None]]]:
        """Hand this leg to a packet sender (media.aiortc_bridge.send.RtpLeg): from now on the
        track yields nothing and the returned coroutine function gives each frame's RTP
        payloads as the party's browser sent them, its timestamp on the leg's timeline
        and the party's send time (``EncodedFrame.send_time``)."""
        self.sends_rtp = True
        return self.next_rtp

    def send_in_call(self, send_now: SendNow) -> None:
        """Let the packet sender take frames in the call that pushed them.

        ``send_now(payloads, pts, send_time)`` sends at once, or returns False when it cannot yet
        (its transport is still connecting); the frame then waits in the queue for the
        sender's task. A frame goes in-call only when nothing is queued before it, so the
        order never changes; what in-call sending saves is a task wake-up per frame.
        """
        self._send_now = send_now

    async def next_rtp(self) -> tuple[RtpPayloads, int, int | None]:
        frame, pts = await self.next_frame()
        return self._payloads_of(frame), pts, frame.send_time

    def _payloads_of(self, frame: EncodedFrame) -> RtpPayloads:
        payloads = frame.rtp_payloads()
        if not payloads and frame.data:
            self._stats.dropped_without_rtp += 1
            if self._stats.dropped_without_rtp == 1:
                self.log.error("%s frame without RTP payloads cannot be forwarded", self.kind)
        return payloads

    def downstream_keyframe_request(self, reason: str) -> None:
        super().downstream_keyframe_request(reason)
        # aiortc's sender would only set an encoder flag; the encoder is upstream.
        self._request_keyframe(f"downstream_{reason}")

    def _queue_depth(self) -> int:
        return len(self._queue)


class TranscodingRelay(Forwarder):
    """Decodes and lets aiortc's sender re-encode: aiortc's usual relay.

    Benchmark baseline only (``MediaConfig(forwarding="transcoding")``). Frames
    are decoded here with our own ``av.CodecContext`` in the default executor,
    because the receivers of this node yield encoded packets. The sender's own
    encoder answers the downstream browser's keyframe requests.
    """

    strategy = "transcoding"
    QUEUE_LIMIT = 60

    def __init__(
        self,
        kind: str,
        log: ConsultLog,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(kind, log, on_overflow)
        self._encoded: deque[EncodedFrame] = deque()
        self._decoded: deque[Frame] = deque()
        self._decoder: Any = None
        self._decoder_codec: str | None = None
        self._timeline: ContinuousTimeline | None = None

    def _new_source(self, frame: EncodedFrame) -> None:
        # A new encoder upstream: its stream starts at a keyframe, with a fresh decoder.
        self._decoder = None
        self._need_keyframe = self.kind == "video"

    def _enqueue(self, frame: EncodedFrame) -> None:
        stats = self._stats
        if len(self._encoded) >= self.QUEUE_LIMIT:
            stats.overflows += 1
            stats.dropped_overflow += len(self._encoded)
            if self._on_overflow is not None:
                self._on_overflow(len(self._encoded))
            self._encoded.clear()
            if self.kind == "video" and not frame.keyframe:
                self._need_keyframe = True
                self._request_keyframe("queue_overflow")
                return
        self._encoded.append(frame)
        self._wake()

    async def next_item(self) -> Frame:
        self._mark_started()
        loop = asyncio.get_running_loop()
        while not self._decoded:
            while not self._encoded:
                await self._wait()
            frame = self._encoded.popleft()
            try:
                decoded = await loop.run_in_executor(None, self._decode, frame)
            except av.FFmpegError as exc:
                self.log.warning(
                    "transcoding relay failed to decode a %s frame: %s", frame.codec, exc
                )
                self._request_keyframe("decode_error")
                continue
            self._decoded.extend(decoded)
        item = self._decoded.popleft()
        self._stats.forwarded += 1
        self._stats.last_pts = item.pts
        return item

    def _decode(self, frame: EncodedFrame) -> list[Frame]:
        if self._decoder is None or self._decoder_codec != frame.codec:
            self._decoder = _create_decoder(frame.codec)
            self._decoder_codec = frame.codec
        if self._timeline is None:
            self._timeline = ContinuousTimeline.for_time_base(frame.time_base)
        pts = self._timeline.map(frame.source, frame.pts, frame.arrival)
        decoded = list(self._decoder.decode(frame.to_packet(pts)))
        for item in decoded:
            item.pts = pts
            item.time_base = frame.time_base
        return decoded

    def _queue_depth(self) -> int:
        return len(self._encoded) + len(self._decoded)


def _create_decoder(codec: str) -> Any:
    """Our own decoder: the forwarding hook makes aiortc's receivers yield packets."""
    if codec == "opus":
        decoder: Any = av.CodecContext.create("libopus", "r")
        # aiortc's OpusEncoder accepts only s16 (mono|stereo) frames.
        decoder.format = "s16"
        decoder.layout = "stereo"
        decoder.sample_rate = 48000
        return decoder
    name = {"vp8": "libvpx", "h264": "h264"}.get(codec, codec)
    return av.CodecContext.create(name, "r")


def create_forwarder(
    strategy: str,
    kind: str,
    log: ConsultLog,
    on_overflow: Callable[[int], None] | None = None,
) -> Forwarder:
    if strategy == "passthrough":
        return PassthroughForwarder(kind, log, on_overflow)
    if strategy == "transcoding":
        return TranscodingRelay(kind, log, on_overflow)
    raise ValueError(f"unknown forwarding strategy {strategy!r}")

"""One party's audio or video as it arrives at this node, across that party's reconnects.

An :class:`InboundStream` outlives the party's peer connections: when the guardian's
phone drops off Wi-Fi and reconnects with a new peer, the same inbound stream is
re-attached to the new remote track, so the legs carrying it to the physician and
the recorder's sink keep one continuous timeline.

It takes each encoded frame from the receiver's hand-off (see :mod:`media.aiortc_bridge.receive`)
in the call that completed it, hands it to the sink callback and to each subscribed
:class:`~media.forwarding_strategies.Forwarder`, and is the upstream end of the feedback loop:
keyframe requests (rate-limited) and downstream bandwidth (REMB).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import aiortc.jitterbuffer

from media.aiortc_bridge.receive import ReceiverHooks
from media.bitstream import codec_name, is_keyframe
from media.encoded_frame import EncodedFrame
from media.forwarding_strategies import Forwarder
from media.log import ConsultLog
from media.timeline import ContinuousTimeline


@dataclass
class InboundStats:
    kind: str
    codec: str | None
    attached: bool
    source: int = 0
    frames: int = 0
    bytes: int = 0
    keyframes: int = 0
    keyframe_requests: int = 0
    plis_sent: int = 0
    rembs_relayed: int = 0
    remb_cap: int | None = None
    # The server's own estimate of the party's uplink runs only while no relayed REMB
    # measures that uplink (media.aiortc_bridge.receive.ReceiverHooks.set_remb_cap).
    estimating_uplink: bool = False
    subscribers: int = 0
    last_pts: int | None = None
    # Thrown away by the receiver's buffer (media.rtp.jitter_buffers), over every peer of the party:
    # a weak link shows up here as holes that NACK did not repair in time.
    late_packets: int = 0
    holes_skipped: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class InboundStream:
    """A party's stream of one kind, fanned out to the sink and the downstream legs."""

    PLI_INTERVAL = 0.5
    """At most one PLI per this many seconds toward the browser; later requests coalesce."""
    REMB_INTERVAL = 0.2
    """At most one relayed REMB per this many seconds (a decrease goes out at once)."""

    def __init__(
        self,
        role: str,
        kind: str,
        log: ConsultLog,
        on_frame: Callable[[EncodedFrame], None] | None = None,
        on_keyframe_request: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.role = role
        self.kind = kind
        self.log = log
        self._on_frame = on_frame
        self._on_keyframe_request = on_keyframe_request
        self._subscribers: list[Forwarder] = []
        self._hooks: ReceiverHooks | None = None
        self._codec: str | None = None
        # The codec of the frames coming in, as last seen, and what follows from it.
        self._frame_codec: Any = None
        self._frame_codec_name = ""
        self._time_base = Fraction(1, 90000)
        self._timeline: ContinuousTimeline | None = None
        self._last_pli = -1e9
        self._pending_pli: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # per downstream leg: (bitrate, when, whether it covers the party's uplink)
        self._leg_rembs: dict[int, tuple[int, float, bool]] = {}
        self._last_remb_sent: tuple[int, float] | None = None
        self._stats = InboundStats(kind=kind, codec=None, attached=False)
        self._earlier_buffer_counts: dict[str, int] = {}

    # -- source ---------------------------------------------------------------

    def attach(self, hooks: ReceiverHooks, codec: str) -> None:
        """Take the frames of a (new) receiver of the party; a reconnect is a new source."""
        self._stop_listening()
        self._fold_buffer_counters()
        self._hooks = hooks
        self._codec = codec
        self._stats.codec = codec
        self._stats.source += 1
        self._stats.attached = True
        source = self._stats.source
        loop = asyncio.get_running_loop()

        def on_frame(codec: Any, frame: aiortc.jitterbuffer.JitterFrame) -> None:
            self._deliver(codec, frame, source, loop.time())

        hooks.deliver_frames_to(on_frame)

    def detach(self) -> None:
        """The party's peer is gone; subscribers stay bound and idle until it returns."""
        self._stop_listening()
        self._fold_buffer_counters()
        self._hooks = None
        self._stats.attached = False
        if self._pending_pli is not None:
            self._pending_pli.cancel()
            self._pending_pli = None

    @property
    def attached(self) -> bool:
        return self._stats.attached

    @property
    def codec(self) -> str | None:
        return self._codec

    def _stop_listening(self) -> None:
        if self._hooks is not None:
            self._hooks.deliver_frames_to(None)

    def _deliver(
        self, codec: Any, frame: aiortc.jitterbuffer.JitterFrame, source: int, now: float
    ) -> None:
        """``codec``: the frame's RTCRtpCodecParameters (the same object for a whole peer)."""
        if codec is not self._frame_codec:
            self._frame_codec = codec
            self._time_base = Fraction(1, codec.clockRate)
            self._frame_codec_name = codec_name(codec.mimeType)
        time_base = self._time_base
        if self._timeline is None:
            self._timeline = ContinuousTimeline.for_time_base(time_base)
        data = frame.data
        encoded = EncodedFrame(
            kind=self.kind,
            codec=self._codec or "",
            data=data,
            pts=self._timeline.map(source, frame.timestamp, now),
            time_base=time_base,
            keyframe=is_keyframe(self._frame_codec_name, data),
            source=source,
            arrival=now,
            # media.rtp.jitter_buffers keep the RTP payloads the frame came in, and
            # the party's send time of the packet that completed it
            rtp=getattr(frame, "rtp", ()),
            send_time=getattr(frame, "send_time", None),
        )
        stats = self._stats
        stats.frames += 1
        stats.bytes += len(data)
        stats.last_pts = encoded.pts
        if encoded.keyframe and self.kind == "video":
            stats.keyframes += 1
            # A keyframe answers every request made so far.
            if self._pending_pli is not None:
                self._pending_pli.cancel()
                self._pending_pli = None
        if self._on_frame is not None:
            try:
                self._on_frame(encoded)
            except Exception:
                self.log.exception("frame sink failed on a %s frame", self.kind)
        for leg in list(self._subscribers):
            leg.push(encoded)

    # -- downstream legs (the Upstream protocol of media.forwarding_strategies) ------------

    def subscribe(self, leg: Forwarder) -> None:
        if leg not in self._subscribers:
            self._subscribers.append(leg)
            self._stats.subscribers = len(self._subscribers)
            leg.bind(self)

    def forget_leg(self, leg: object) -> None:
        if isinstance(leg, Forwarder) and leg in self._subscribers:
            self._subscribers.remove(leg)
        self._stats.subscribers = len(self._subscribers)
        if self._leg_rembs.pop(id(leg), None) is not None:
            self._apply_remb_cap()

    def request_keyframe(self, reason: str) -> None:
        """Ask the party's browser for a keyframe, at most once per PLI_INTERVAL.

        A request inside the interval is not lost: one PLI goes out when the
        interval ends, unless a keyframe arrives first.
        """
        if self.kind != "video":
            return
        self._stats.keyframe_requests += 1
        if self._hooks is None:
            return
        wait = self._last_pli + self.PLI_INTERVAL - time.monotonic()
        if wait <= 0:
            self._send_pli(reason, coalesced=False)
        elif self._pending_pli is None:
            loop = asyncio.get_running_loop()
            self._pending_pli = loop.call_later(wait, self._send_pli, reason, True)

    def _send_pli(self, reason: str, coalesced: bool) -> None:
        self._pending_pli = None
        if self._hooks is None:
            return
        self._last_pli = time.monotonic()
        self._stats.plis_sent += 1
        self._spawn(self._hooks.send_pli())
        if self._on_keyframe_request is not None:
            self._on_keyframe_request(reason, coalesced)

    def downstream_remb(self, leg: object, bitrate: int, *, covers_uplink: bool = False) -> None:
        """A downstream browser's REMB: cap what the party's browser may send.
        ``covers_uplink``: the leg forwards the party's own send times, so the REMB
        measured the party's uplink too (see ReceiverHooks.set_remb_cap)."""
        self._leg_rembs[id(leg)] = (bitrate, time.monotonic(), covers_uplink)
        self._apply_remb_cap()

    def _apply_remb_cap(self) -> None:
        hooks = self._hooks
        now = time.monotonic()
        fresh = [
            (bitrate, covers)
            for bitrate, at, covers in self._leg_rembs.values()
            if now - at <= ReceiverHooks.REMB_CAP_TTL
        ]
        cap = min(bitrate for bitrate, _ in fresh) if fresh else None
        self._stats.remb_cap = cap
        if hooks is None:
            return
        hooks.set_remb_cap(cap, covers_uplink=bool(fresh) and all(c for _, c in fresh))
        if cap is None:
            return
        last = self._last_remb_sent
        if last is not None and now - last[1] < self.REMB_INTERVAL and cap >= last[0]:
            return
        self._last_remb_sent = (cap, now)
        self._stats.rembs_relayed += 1
        self._spawn(hooks.send_remb(cap))

    # -- housekeeping -----------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("RTCP feedback toward %s failed: %r", self.role, task.exception())

    def _buffer_counters(self) -> dict[str, int]:
        return self._hooks.buffer_counters() if self._hooks is not None else {}

    def _fold_buffer_counters(self) -> None:
        """The peer is going: keep what its buffer counted."""
        for name, value in self._buffer_counters().items():
            self._earlier_buffer_counts[name] = self._earlier_buffer_counts.get(name, 0) + value

    def stats(self) -> InboundStats:
        current = self._buffer_counters()
        earlier = self._earlier_buffer_counts
        self._stats.estimating_uplink = self._hooks is not None and self._hooks.estimating_uplink
        self._stats.late_packets = earlier.get("late_packets", 0) + current.get("late_packets", 0)
        self._stats.holes_skipped = earlier.get("holes_skipped", 0) + current.get(
            "holes_skipped", 0
        )
        return self._stats

    async def close(self) -> None:
        self.detach()
        for leg in list(self._subscribers):
            leg.unbind()
        self._subscribers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

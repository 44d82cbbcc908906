"""One party's audio or video as it arrives at this node, across that party's reconnects.

An :class:`InboundStream` outlives the party's peer connections: when the guardian's
phone drops off Wi-Fi and reconnects with a new peer, the same inbound stream is
re-attached to the new remote track, so the legs carrying it to the physician and
the recorder's sink keep one continuous timeline.

It reads the remote track (encoded ``av.Packet`` objects, see
:mod:`media.forwarding`), hands every frame to the sink callback and to each
subscribed :class:`~media.forwarders.Forwarder`, and is the upstream end of the
feedback loop: keyframe requests (rate-limited) and downstream bandwidth (REMB).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import av
from aiortc import MediaStreamError, MediaStreamTrack

from media.encoded_frame import EncodedFrame
from media.forwarders import Forwarder
from media.forwarding import ReceiverHooks
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
    subscribers: int = 0
    last_pts: int | None = None
    # Thrown away by the receiver's buffer (media.forwarding), over every peer of the party:
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
        self._reader: asyncio.Task[None] | None = None
        self._codec: str | None = None
        self._timeline: ContinuousTimeline | None = None
        self._last_pli = -1e9
        self._pending_pli: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._leg_rembs: dict[int, tuple[int, float]] = {}
        self._last_remb_sent: tuple[int, float] | None = None
        self._stats = InboundStats(kind=kind, codec=None, attached=False)
        self._earlier_buffer_counts: dict[str, int] = {}

    # -- source ---------------------------------------------------------------

    def attach(self, track: MediaStreamTrack, hooks: ReceiverHooks, codec: str) -> None:
        """Read from a (new) remote track of the party; a reconnect is a new source."""
        self._stop_reader()
        self._fold_buffer_counters()
        self._hooks = hooks
        self._codec = codec
        self._stats.codec = codec
        self._stats.source += 1
        self._stats.attached = True
        self._reader = asyncio.create_task(
            self._read(track, self._stats.source), name=f"inbound-{self.role}-{self.kind}"
        )

    def detach(self) -> None:
        """The party's peer is gone; subscribers stay bound and idle until it returns."""
        self._stop_reader()
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

    def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    async def _read(self, track: MediaStreamTrack, source: int) -> None:
        loop = asyncio.get_running_loop()
        warned = False
        while True:
            try:
                item = await track.recv()
            except MediaStreamError:
                self.log.debug("%s track of source %d ended", self.kind, source)
                return
            if not isinstance(item, av.Packet):
                if not warned:
                    # Should be impossible once the hook guard passed; loud rather than silent.
                    self.log.error(
                        "%s receiver yields decoded frames: forwarding hook not active", self.kind
                    )
                    warned = True
                continue
            self._deliver(item, source, loop.time())

    def _deliver(self, packet: av.Packet, source: int, now: float) -> None:
        time_base = packet.time_base
        assert time_base is not None and packet.pts is not None
        if self._timeline is None:
            self._timeline = ContinuousTimeline.for_time_base(time_base)
        # media.forwarding hangs the frame's RTP payloads on the packet
        rtp = packet.opaque if isinstance(packet.opaque, tuple) else ()
        frame = EncodedFrame(
            kind=self.kind,
            codec=self._codec or "",
            data=bytes(packet),
            pts=self._timeline.map(source, packet.pts, now),
            time_base=time_base,
            keyframe=bool(packet.is_keyframe),
            source=source,
            arrival=now,
            rtp=rtp,
        )
        stats = self._stats
        stats.frames += 1
        stats.bytes += len(frame.data)
        stats.last_pts = frame.pts
        if frame.keyframe and self.kind == "video":
            stats.keyframes += 1
            # A keyframe answers every request made so far.
            if self._pending_pli is not None:
                self._pending_pli.cancel()
                self._pending_pli = None
        if self._on_frame is not None:
            try:
                self._on_frame(frame)
            except Exception:
                self.log.exception("packet sink failed on a %s frame", self.kind)
        for leg in list(self._subscribers):
            leg.push(frame)

    # -- downstream legs (the Upstream protocol of media.forwarders) ------------

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

    def downstream_remb(self, leg: object, bitrate: int) -> None:
        """A downstream browser's REMB: cap what the party's browser may send."""
        self._leg_rembs[id(leg)] = (bitrate, time.monotonic())
        self._apply_remb_cap()

    def _apply_remb_cap(self) -> None:
        hooks = self._hooks
        now = time.monotonic()
        fresh = [b for b, t in self._leg_rembs.values() if now - t <= ReceiverHooks.REMB_CAP_TTL]
        cap = min(fresh) if fresh else None
        self._stats.remb_cap = cap
        if hooks is None:
            return
        hooks.set_remb_cap(cap)
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

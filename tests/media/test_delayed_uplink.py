"""A queue building on a party's uplink: the party hears it as a lower REMB, although the
server's own estimate is paused while the other party's browser reports the whole path."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

from .conftest import rembs_heard_by


class QueueingUplink:
    """Holds a client's RTP on its way to the server (after its send time is stamped) for
    longer and longer, as a bottleneck queue does: ``growth`` seconds of delay per second."""

    def __init__(self, client: Any, growth: float, ceiling: float) -> None:
        transport = client.video_transceiver.sender.transport
        original = transport._send_rtp  # aiortc private (test only): plaintext RTP/RTCP out
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        self.delayed = 0

        async def send_rtp(data: bytes) -> None:
            if len(data) >= 12 and 192 <= data[1] <= 223:  # RTCP goes straight on
                await original(data)
                return
            delay = min(ceiling, (time.monotonic() - started) * growth)
            self.delayed += 1
            loop.call_later(delay, lambda: asyncio.ensure_future(release(data)))

        async def release(data: bytes) -> None:
            # The call may end with packets still queued: they are lost, as on a real link.
            with contextlib.suppress(ConnectionError):
                await original(data)

        transport._send_rtp = send_rtp


class OneWayDelay:
    """What the receiving browser's estimator compares: each video packet's arrival less the
    abs-send-time it carries, in seconds, relative to the first packet (the clocks' offset
    falls out; abs-send-time wraps every 64 s)."""

    def __init__(self, client: Any) -> None:
        receiver = client.video_transceiver.receiver
        original = receiver._handle_rtp_packet  # aiortc private (test only)
        self.samples: list[float] = []
        self._first: float | None = None

        async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
            sent = packet.extensions.abs_send_time
            if sent is not None:
                delay = (arrival_time_ms / 1000 - sent / (1 << 18)) % 64
                if self._first is None:
                    self._first = delay
                self.samples.append((delay - self._first + 32) % 64 - 32)
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_rtp_packet

    def recent(self, count: int = 15) -> float:
        """The median of the last ``count`` packets' delays (one frame's jitter is noise)."""
        return statistics.median(self.samples[-count:])


def fell(rembs: list[int]) -> bool:
    """Whether some REMB is more than 10 % below the highest one heard before it."""
    peak = 0
    for bitrate in rembs:
        if bitrate < 0.9 * peak:
            return True
        peak = max(peak, bitrate)
    return False


async def test_a_queue_on_the_physicians_uplink_reaches_the_physician_as_a_lower_remb(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    heard = rembs_heard_by(physician)
    delay = OneWayDelay(guardian)

    def physician_inbound() -> dict[str, Any]:
        return consult.media.stats()["roles"]["physician"]["inbound"]["video"]

    # The guardian's browser (aiortc's estimator here) reports after ~3 s of video; from
    # then on its REMB is relayed and the server's own estimate of the uplink pauses.
    await wait(lambda: not physician_inbound()["estimating_uplink"], 10, "the guardian's REMB")
    await wait(lambda: len(heard) >= 2, 5, "the relayed REMB at the physician")
    since, unqueued = len(heard) - 1, delay.recent()

    queue = QueueingUplink(physician, growth=0.5, ceiling=1.5)
    # The forwarded packets carry the physician's own send times, so the guardian's
    # browser sees the queue on the physician's uplink (server-stamped, they would not).
    await wait(
        lambda: delay.recent() - unqueued > 0.75,
        8,
        "the queue in the guardian's view",
        seen=lambda: f"it rose {delay.recent() - unqueued:.2f} s, {queue.delayed} packets held",
    )
    # Its estimator reacts in a fraction of a second on an idle machine, in seconds when
    # the test process is starved of CPU (frames come 4 a second, jitter ~100 ms). It may
    # still be ramping up then (a starved start seeds it low), so what counts is a fall
    # from the highest REMB since the queue began: it only falls when it detects overuse.
    await wait(
        lambda: fell(heard[since:]),
        10,
        "a lower REMB",
        seen=lambda: f"heard {heard} (the queue began at #{since})",
    )
    assert queue.delayed > 0
    # Nobody at the server measured the queue: the guardian's browser did, through the
    # physician's own send times carried on the forwarded packets.
    assert not physician_inbound()["estimating_uplink"]

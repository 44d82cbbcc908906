"""A queue building on a party's uplink: the party hears it as a lower REMB, although the
server's own estimate is paused while the other party's browser reports the whole path."""

from __future__ import annotations

import asyncio
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
            loop.call_later(delay, lambda: asyncio.ensure_future(original(data)))

        transport._send_rtp = send_rtp


async def test_a_queue_on_the_physicians_uplink_reaches_the_physician_as_a_lower_remb(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian}, start=("physician",))
    heard = rembs_heard_by(physician)

    def physician_inbound() -> dict[str, Any]:
        return consult.media.stats()["roles"]["physician"]["inbound"]["video"]

    # The guardian's browser (aiortc's estimator here) reports after ~3 s of video; from
    # then on its REMB is relayed and the server's own estimate of the uplink pauses.
    await wait(lambda: not physician_inbound()["estimating_uplink"], 10, "the guardian's REMB")
    await wait(lambda: len(heard) >= 2, 5, "the relayed REMB at the physician")
    before = heard[-1]

    queue = QueueingUplink(physician, growth=0.3, ceiling=1.0)
    await wait(lambda: any(b < 0.9 * before for b in heard), 6, "a lower REMB at the physician")
    assert queue.delayed > 0
    # Nobody at the server measured the queue: the guardian's browser did, through the
    # physician's own send times carried on the forwarded packets.
    assert not physician_inbound()["estimating_uplink"]

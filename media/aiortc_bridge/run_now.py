"""An aiortc packet handler (a coroutine) run to its end in the calling frame.

aiortc's packet handlers are coroutines that never wait in practice: their only awaits end
in a non-blocking ``sendto``. The bridge calls them from plain calls on the packet path (RTCP
out, a packet for a receiver without a lane, a send over a TURN relay) through
:func:`run_now`; one that does wait is carried on by a task. An exception is logged, not
raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from media.log import Log

logger = logging.getLogger(__name__)
_waiting: set[asyncio.Task[None]] = set()


def run_now(coro: Coroutine[Any, Any, None], log: Log | None = None) -> None:
    """Run ``coro`` to its end inside this call; if it waits on something, a task
    carries it on from there. An exception is logged, not raised."""
    try:
        awaited = coro.send(None)
    except StopIteration:
        return
    except Exception:
        (log or logger).exception("a packet handler failed; the packet is dropped")
        return
    task = asyncio.ensure_future(_carry_on(coro, awaited))
    _waiting.add(task)
    task.add_done_callback(_waiting.discard)


async def _carry_on(coro: Coroutine[Any, Any, None], awaited: object) -> None:
    """What a task would do with a coroutine that yielded ``awaited``: wait until it is
    done, resume, repeat."""
    try:
        while True:
            if isinstance(awaited, asyncio.Future):
                await asyncio.wait((awaited,))
            else:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            try:
                awaited = coro.send(None)
            except StopIteration:
                return
    except asyncio.CancelledError:
        coro.close()
        raise
    except Exception:
        logger.exception("a packet handler failed after waiting; the packet is dropped")

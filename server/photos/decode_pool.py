"""Where photos are decoded and scored: a small pool of threads of its own, with a bounded
queue and a bounded share per consult.

Decoding a large photo takes seconds and hundreds of megabytes (a 49-megapixel PNG: ~4.5 s,
four at once peaked a server at 1.36 GB), and it ran on the loop's default executor, which
the recorder, storage and the database driver share. Here at most ``workers`` decodes run at
once (OpenCV releases the GIL, so threads decode in parallel while the loop keeps serving),
at most ``queue`` more wait, and one consult holds at most ``per_consult`` of those places:
one guardian's burst of uploads waits behind itself, never in front of everyone else. A job
that finds no place is refused at once (``DecodeBusy``, 503 with Retry-After) rather than
queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.kernel.errors import ServiceUnavailable

T = TypeVar("T")
RETRY_AFTER_SECONDS = 5


class DecodeBusy(ServiceUnavailable):
    code = "photo_decoding_busy"
    title = "Too many photos are being processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retry_after_s=RETRY_AFTER_SECONDS)


class DecodePool:
    def __init__(self, workers: int, *, queue: int | None = None, per_consult: int = 2) -> None:
        if workers < 1 or per_consult < 1:
            raise ValueError("a decode pool needs at least one worker and one place per consult")
        self.workers = workers
        self.capacity = workers + (4 * workers if queue is None else queue)
        self.per_consult = per_consult
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="photo-decode")
        self._admitted = 0
        self._by_consult: Counter[str] = Counter()

    @property
    def admitted(self) -> int:
        """Jobs running or waiting now."""
        return self._admitted

    async def run(self, consult_id: str | None, job: Callable[[], T]) -> T:
        """`job()` in the pool, counted against `consult_id` (None: a job of the server's own,
        e.g. a still it decoded from the stream, counted only against the whole pool)."""
        if self._admitted >= self.capacity:
            raise DecodeBusy(f"{self._admitted} photos are being processed or waiting; try "
                             f"again in {RETRY_AFTER_SECONDS} s")
        if consult_id is not None and self._by_consult[consult_id] >= self.per_consult:
            raise DecodeBusy(f"this consult already has {self.per_consult} photos being "
                             f"processed; send the next when one is done")
        self._admitted += 1
        if consult_id is not None:
            self._by_consult[consult_id] += 1
        loop = asyncio.get_running_loop()
        submitted = self._executor.submit(job)
        # The place is given back when the thread is done with the job, not when its caller
        # stops waiting (a dropped upload's decode still runs to its end and still counts).
        submitted.add_done_callback(lambda _: self._release_from(loop, consult_id))
        return await asyncio.wrap_future(submitted)

    def _release_from(self, loop: asyncio.AbstractEventLoop, consult_id: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed first: nothing left to admit
            loop.call_soon_threadsafe(self._release, consult_id)

    def _release(self, consult_id: str | None) -> None:
        self._admitted -= 1
        if consult_id is not None:
            self._by_consult[consult_id] -= 1
            if not self._by_consult[consult_id]:
                del self._by_consult[consult_id]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

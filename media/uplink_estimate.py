"""aiortc's receive-side bandwidth estimator, with its two per-packet loops made cheap.

A forwarding server tells each browser how fast it may send with aiortc's own
``RemoteBitrateEstimator`` (abs-send-time inter-arrival filter, Kalman overuse
estimator, AIMD rate control, from webrtc.org): it costs about a tenth of a forwarded
consult's CPU (bench/README.md), mostly in two places that loop where they need not:

* ``RateCounter`` keeps 1000 one-millisecond buckets and, on every packet, clears
  each bucket the clock has passed since the last packet, one Python iteration per
  millisecond. :class:`SlidingRate` keeps only the milliseconds that had packets.
* ``OveruseEstimator.update_min_frame_period`` finds the smallest of the last 60
  timestamp deltas with a Python loop on every timestamp group.
  :class:`QuickOveruseEstimator` keeps them in a bounded deque and asks ``min``.

Everything else is aiortc's code, unchanged; tests hold both replacements to the
classes they replace, value for value. Arrival times must not go backwards (the
receive lane clamps them): that is the one input on which :class:`SlidingRate` and
aiortc's ring of buckets would differ.
"""

from __future__ import annotations

from collections import deque

import aiortc.rate

RATE_WINDOW_MS = 1000
RATE_SCALE = 8000  # bytes per millisecond → bits per second


class SlidingRate:
    """``aiortc.rate.RateCounter(window_size, scale)`` for non-decreasing ``now_ms``:
    the same ``add``/``rate``/``reset``, the same results, work per packet not per ms."""

    def __init__(self, window_size: int = RATE_WINDOW_MS, scale: int = RATE_SCALE) -> None:
        self._window_size = window_size
        self._scale = scale
        self._origin_ms: int | None = None
        self._slots: deque[list[int]] = deque()  # [ms, count, value], oldest first
        self._count = 0
        self._value = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        slots = self._slots
        if slots and slots[-1][0] == now_ms:
            last = slots[-1]
            last[1] += 1
            last[2] += value
        else:
            slots.append([now_ms, 1, value])
        self._count += 1
        self._value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is None:
            return None
        self._erase_old(now_ms)
        active_window_size = now_ms - self._origin_ms + 1
        if self._count > 0 and active_window_size > 1:
            return round(self._scale * self._value / active_window_size)
        return None

    def reset(self) -> None:
        self._origin_ms = None
        self._slots.clear()
        self._count = 0
        self._value = 0

    def _erase_old(self, now_ms: int) -> None:
        new_origin_ms = now_ms - self._window_size + 1
        assert self._origin_ms is not None
        if self._origin_ms >= new_origin_ms:
            return
        slots = self._slots
        while slots and slots[0][0] < new_origin_ms:
            _, count, value = slots.popleft()
            self._count -= count
            self._value -= value
        self._origin_ms = new_origin_ms


class QuickOveruseEstimator(aiortc.rate.OveruseEstimator):
    """aiortc's Kalman overuse estimator; the minimum frame period without a loop."""

    def __init__(self) -> None:
        super().__init__()
        self._recent_deltas: deque[float] = deque(
            maxlen=aiortc.rate.MIN_FRAME_PERIOD_HISTORY_LENGTH
        )

    def update_min_frame_period(self, ts_delta: float) -> float:
        recent = self._recent_deltas
        # aiortc drops the oldest before comparing, so the current delta is compared with
        # at most 59 older ones: the deque's own eviction happens one step too late.
        if len(recent) == recent.maxlen:
            recent.popleft()
        smallest = min(ts_delta, min(recent)) if recent else ts_delta
        recent.append(ts_delta)
        return smallest


class RembThrottle:
    """When a new estimate is worth a REMB: at most one per ``interval_ms``, except an
    estimate that fell by more than ``drop_percent`` % goes out at once.

    aiortc sends a REMB on every packet while its detector says *overusing* — on a
    loaded server, whose own scheduling jitter reads as queueing, that is a REMB per
    video packet, each one built, protected and sent. Browsers throttle their REMB this
    way (WebRTC's ``RembThrottler``: 200 ms, 3 %), so the sender hears the same.
    """

    def __init__(self, interval_ms: int = 200, drop_percent: int = 3) -> None:
        self._interval_ms = interval_ms
        self._factor = 100 + drop_percent
        self._last_ms: int | None = None
        self._last_bitrate: int | None = None

    def due(self, bitrate: int, now_ms: int) -> bool:
        """Whether ``bitrate`` estimated at ``now_ms`` should be sent (and is, if so)."""
        if (
            self._last_ms is not None
            and self._last_bitrate is not None
            and now_ms < self._last_ms + self._interval_ms
            and bitrate * self._factor > self._last_bitrate * 100
        ):
            return False
        self._last_ms = now_ms
        self._last_bitrate = bitrate
        return True


def uplink_estimator() -> aiortc.rate.RemoteBitrateEstimator:
    """aiortc's REMB estimator with :class:`SlidingRate` and :class:`QuickOveruseEstimator`
    in place of the parts that loop."""
    estimator = aiortc.rate.RemoteBitrateEstimator()
    estimator.incoming_bitrate = SlidingRate()  # type: ignore[assignment]
    estimator.estimator = QuickOveruseEstimator()
    return estimator

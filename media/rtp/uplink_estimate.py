"""aiortc's receive-side bandwidth estimator, cheaper per packet, same results.

A forwarding server tells each browser how fast it may send with aiortc's own
``RemoteBitrateEstimator`` (abs-send-time inter-arrival filter, Kalman overuse
estimator, AIMD rate control, from webrtc.org): switched off, a forwarded consult cost
11.5 % less (bench/README.md). :class:`UplinkEstimator` runs its per-packet part in
one method, and replaces the two places that loop where they need not:

* ``RateCounter`` keeps 1000 one-millisecond buckets and, on every packet, clears
  each bucket the clock has passed since the last packet, one Python iteration per
  millisecond. :class:`SlidingRate` keeps only the milliseconds that had packets.
* ``OveruseEstimator.update_min_frame_period`` finds the smallest of the last 60
  timestamp deltas with a Python loop on every timestamp group.
  :class:`QuickOveruseEstimator` keeps a sliding-window minimum (a deque of the deltas
  that can still be the smallest), a few steps per group.

The Kalman filter, the overuse detector and the rate control are aiortc's, unchanged;
tests hold each replacement to what it replaces, value for value. Arrival times must
not go backwards (the receive lane clamps them): that is the one input on which
:class:`SlidingRate` and aiortc's ring of buckets would differ.
"""

from __future__ import annotations

from collections import deque

import aiortc.rate
from aiortc.utils import uint32_gt

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
        elif self._origin_ms <= now_ms - self._window_size:  # (after rate(now_ms) it is not)
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
        if self._origin_ms <= now_ms - self._window_size:
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
        """Forget what is older than the window ending at ``now_ms``; the callers check
        first that the window has moved (a call per packet is most of this method's cost)."""
        new_origin_ms = now_ms - self._window_size + 1
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
        # The sliding-window minimum: (group number, delta) with deltas rising from the
        # front, each smaller than every delta that came after it within the window.
        self._minima: deque[tuple[int, float]] = deque()
        self._groups = 0

    def update_min_frame_period(self, ts_delta: float) -> float:
        # aiortc compares the current delta with the 59 before it (it drops the oldest of
        # its 60 before comparing): a window of 60 deltas, the current one included.
        minima = self._minima
        group = self._groups
        self._groups = group + 1
        while minima and minima[-1][1] >= ts_delta:
            minima.pop()  # never the minimum again: ts_delta is as small and outlives it
        minima.append((group, ts_delta))
        if minima[0][0] <= group - aiortc.rate.MIN_FRAME_PERIOD_HISTORY_LENGTH:
            minima.popleft()
        return minima[0][1]


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


_U32 = 0xFFFFFFFF
_HALF = 0x80000000
_GROUP_LENGTH = (aiortc.rate.TIMESTAMP_GROUP_LENGTH_MS << aiortc.rate.INTER_ARRIVAL_SHIFT) // 1000
_TIMESTAMP_TO_MS = aiortc.rate.TIMESTAMP_TO_MS
_BURST_MS = aiortc.rate.BURST_DELTA_THRESHOLD_MS
_OVERUSING = aiortc.rate.BandwidthUsage.OVERUSING


class UplinkEstimator:
    """``aiortc.rate.RemoteBitrateEstimator`` with its per-packet path in one method.

    ``add`` takes and returns what aiortc's does, and gives the same results for
    non-decreasing arrival times. Per packet aiortc calls into ``InterArrival`` four
    times, builds a ``TimestampGroup`` and an ``InterArrivalDelta`` per group, and asks
    its ``RateCounter`` twice; here the inter-arrival grouping is inlined and the rate
    comes from :class:`SlidingRate`. Per timestamp group (a frame, about), aiortc's
    Kalman estimator (:class:`QuickOveruseEstimator`), overuse detector and AIMD rate
    control run unchanged.
    """

    def __init__(self) -> None:
        self._rate = SlidingRate()
        self._rate_initialized = True
        self._estimator = QuickOveruseEstimator()
        self._detector = aiortc.rate.OveruseDetector()
        self._control = aiortc.rate.AimdRateControl()
        self._feedback_interval_ms = self._control.feedback_interval()  # a constant in aiortc
        self._last_update_ms: int | None = None
        self._ssrcs: dict[int, int] = {}
        # InterArrival's current and previous timestamp groups
        self._group = False
        self._first_timestamp = 0
        self._last_timestamp = 0
        self._group_size = 0
        self._group_arrival = 0
        self._previous = False
        self._previous_timestamp = 0
        self._previous_size = 0
        self._previous_arrival = 0
        # the deltas between the last two closed groups
        self._timestamp_delta = 0
        self._arrival_delta = 0
        self._size_delta = 0

    def start_from(self, bitrate: int, now_ms: int) -> None:
        """Start the rate control at ``bitrate`` instead of the incoming rate it would
        otherwise wait 3 s to measure (an estimate taking over from a relayed one)."""
        self._control.set_estimate(bitrate, now_ms)

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        timestamp = abs_send_time << 8
        self._ssrcs[ssrc] = arrival_time_ms

        rate = self._rate
        if rate.rate(arrival_time_ms) is not None:
            self._rate_initialized = True
        elif self._rate_initialized:
            rate.reset()
            self._rate_initialized = False
        rate.add(payload_size, arrival_time_ms)

        if self._group_delta(timestamp, arrival_time_ms, payload_size):
            timestamp_delta_ms = self._timestamp_delta * _TIMESTAMP_TO_MS
            estimator, detector = self._estimator, self._detector
            estimator.update(
                self._arrival_delta,
                timestamp_delta_ms,
                self._size_delta,
                detector.hypothesis,
                arrival_time_ms,
            )
            detector.detect(
                estimator.offset(), timestamp_delta_ms, estimator.num_of_deltas(), arrival_time_ms
            )

        last = self._last_update_ms
        if (
            last is None
            or arrival_time_ms - last > self._feedback_interval_ms
            or self._detector.hypothesis is _OVERUSING
        ):
            target = self._control.update(
                self._detector.hypothesis, rate.rate(arrival_time_ms), arrival_time_ms
            )
            if target is not None:
                self._last_update_ms = arrival_time_ms
                return target, list(self._ssrcs)
        return None

    def _group_delta(self, timestamp: int, arrival_ms: int, size: int) -> bool:
        """``InterArrival.compute_deltas``: True when a group closed and the deltas between
        it and the one before are in ``_timestamp_delta``/``_arrival_delta``/``_size_delta``."""
        closed = False
        if not self._group:
            self._group = True
            self._first_timestamp = self._last_timestamp = timestamp
            self._group_size = 0
        elif (timestamp - self._first_timestamp) & _U32 >= _HALF:
            return False  # out of order: not counted in any group
        elif self._new_group(timestamp, arrival_ms):
            if self._previous:
                self._timestamp_delta = (self._last_timestamp - self._previous_timestamp) & _U32
                self._arrival_delta = self._group_arrival - self._previous_arrival
                self._size_delta = self._group_size - self._previous_size
                closed = True
            self._previous = True
            self._previous_timestamp = self._last_timestamp
            self._previous_size = self._group_size
            self._previous_arrival = self._group_arrival
            self._first_timestamp = self._last_timestamp = timestamp
            self._group_size = 0
        elif uint32_gt(timestamp, self._last_timestamp):
            self._last_timestamp = timestamp
        self._group_size += size
        self._group_arrival = arrival_ms
        return closed

    def _new_group(self, timestamp: int, arrival_ms: int) -> bool:
        timestamp_delta_ms = round(_TIMESTAMP_TO_MS * ((timestamp - self._last_timestamp) & _U32))
        arrival_delta = arrival_ms - self._group_arrival
        if timestamp_delta_ms == 0 or (
            arrival_delta - timestamp_delta_ms < 0 and arrival_delta <= _BURST_MS
        ):
            return False  # a burst: the same group
        return (timestamp - self._first_timestamp) & _U32 > _GROUP_LENGTH

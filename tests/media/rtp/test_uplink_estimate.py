"""media.rtp.uplink_estimate gives what aiortc's own bandwidth estimator gives, value for value."""

from __future__ import annotations

import aiortc.rate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp.uplink_estimate import (
    QuickOveruseEstimator,
    RembThrottle,
    SlidingRate,
    UplinkEstimator,
)

pytestmark = pytest.mark.bridge


STEPS_MS = st.integers(0, 40) | st.integers(900, 2_500)  # packets, and gaps past the window


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(STEPS_MS, st.integers(0, 1500), st.sampled_from(["add", "rate", "reset"])),
        max_size=200,
    )
)
def test_sliding_rate_is_aiortcs_rate_counter(operations):
    theirs, ours = aiortc.rate.RateCounter(1000, 8000), SlidingRate(1000, 8000)
    now = 10_000
    for step, size, operation in operations:
        now += step
        if operation == "add":
            theirs.add(size, now)
            ours.add(size, now)
        elif operation == "reset":
            theirs.reset()
            ours.reset()
        assert ours.rate(now) == theirs.rate(now)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(-50, 200, allow_nan=False) | st.sampled_from([0.0, 33.0, 34.0]), max_size=200
    )
)
def test_minimum_frame_period_is_aiortcs(deltas):
    theirs, ours = aiortc.rate.OveruseEstimator(), QuickOveruseEstimator()
    assert [ours.update_min_frame_period(d) for d in deltas] == [
        theirs.update_min_frame_period(d) for d in deltas
    ]


def test_the_61st_delta_no_longer_sees_the_oldest():
    deltas = [1.0] + [33.0] * 59 + [40.0]  # the smallest is 60 deltas back at the last step
    theirs, ours = aiortc.rate.OveruseEstimator(), QuickOveruseEstimator()
    expected = [theirs.update_min_frame_period(d) for d in deltas]
    assert expected[-1] == 33.0
    assert [ours.update_min_frame_period(d) for d in deltas] == expected


@st.composite
def uplink(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """(arrival ms, abs-send-time, payload size) of a video uplink: frames of a few packets,
    a path delay that drifts (a queue building and draining), now and then a stall or two
    packets swapped on the way, and the 64 s wrap of abs-send-time somewhere."""
    packets: list[tuple[int, int, int]] = []
    send_ms = float(draw(st.integers(0, 64_000)))
    delay = 20
    for _ in range(draw(st.integers(50, 1_500))):
        send_ms += draw(st.sampled_from([0.0, 0.5, 1.0, 5.0, 33.3, 40.0]))
        delay = max(0, delay + draw(st.integers(-2, 2)))
        if draw(st.integers(0, 200)) == 0:
            delay += 800  # a stall: the window empties
        abs_send_time = round(send_ms * 262.144) & 0xFFFFFF
        packets.append((int(send_ms) + delay, abs_send_time, draw(st.integers(50, 1200))))
        if len(packets) > 1 and draw(st.integers(0, 30)) == 0:
            packets[-2], packets[-1] = packets[-1], packets[-2]  # reordered on the way
    arrivals = []
    for arrival, abs_send_time, size in packets:  # the lane never hands in a time going back
        arrivals.append((max([arrival] + [a for a, _, _ in arrivals[-1:]]), abs_send_time, size))
    return arrivals


@settings(max_examples=60, deadline=None)
@given(uplink())
def test_the_estimate_and_when_it_is_sent_are_aiortcs(packets):
    theirs, ours = aiortc.rate.RemoteBitrateEstimator(), UplinkEstimator()
    for arrival, send_time, size in packets:
        expected = theirs.add(
            arrival_time_ms=arrival, abs_send_time=send_time, payload_size=size, ssrc=7
        )
        assert (
            ours.add(arrival_time_ms=arrival, abs_send_time=send_time, payload_size=size, ssrc=7)
            == expected
        )
        # and the filter underneath, not only what it decided to send
        assert (ours._estimator.offset(), ours._estimator.num_of_deltas()) == (
            theirs.estimator.offset(),
            theirs.estimator.num_of_deltas(),
        )
        assert ours._detector.hypothesis == theirs.detector.hypothesis


def test_a_remb_goes_out_at_most_every_200_ms_unless_the_estimate_falls():
    throttle = RembThrottle()
    assert throttle.due(1_000_000, 0)  # the first one
    assert not throttle.due(1_000_000, 199)  # unchanged, too soon
    assert not throttle.due(2_000_000, 150)  # rising: waits its turn
    assert not throttle.due(971_000, 160)  # fell by less than 3 %
    assert throttle.due(970_000, 170)  # fell by 3 %: at once
    assert not throttle.due(960_000, 369)
    assert throttle.due(2_000_000, 370)  # 200 ms after the last one sent

"""The receive lane's statistics and NACK generator hold aiortc's values after every packet
(media.aiortc_bridge.receiver_bookkeeping)."""

from __future__ import annotations

import time
import types

import aiortc.rtcrtpreceiver
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.aiortc_bridge.receiver_bookkeeping import QuickNackGenerator, QuickStreamStatistics

pytestmark = pytest.mark.bridge

# Steps between received sequence numbers: in order, lost runs, duplicates, reordering,
# and jumps around half the 16-bit space, where "newer" flips.
STEPS = st.one_of(
    st.just(1),
    st.integers(-40, 60),
    st.sampled_from([0x7FFF, 0x8000, 0x8001, -0x7FFF, -0x8000]),
)


@st.composite
def uplink(draw: st.DrawFn) -> list[tuple[int, int, float]]:
    """(sequence number, RTP timestamp, arrival time) of received packets."""
    sequence = draw(st.integers(0, 0xFFFF))
    timestamp = draw(st.integers(0, 0xFFFFFFFF))
    now = 1_700_000_000.0
    packets = []
    for step in draw(st.lists(STEPS, min_size=1, max_size=300)):
        sequence = (sequence + step) & 0xFFFF
        timestamp = (timestamp + draw(st.sampled_from([0, 0, 3000, 2970, 90_000]))) & 0xFFFFFFFF
        now += draw(st.sampled_from([0.0, 0.001, 0.0333, 0.2]))
        packets.append((sequence, timestamp, now))
    return packets


@settings(max_examples=300, deadline=None)
@given(packets=uplink())
def test_nack_generator_is_aiortcs(packets):
    theirs, ours = aiortc.rtcrtpreceiver.NackGenerator(), QuickNackGenerator()
    for sequence, timestamp, _ in packets:
        packet = types.SimpleNamespace(sequence_number=sequence, timestamp=timestamp)
        assert ours.add(packet) == theirs.add(packet)
        assert (ours.max_seq, ours.missing) == (theirs.max_seq, theirs.missing)


# monkeypatch.context() undoes each example's clock: the fixture itself holds no state.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(packets=uplink(), clock_rate=st.sampled_from([90_000, 48_000]))
def test_stream_statistics_are_aiortcs(monkeypatch, packets, clock_rate):
    theirs = aiortc.rtcrtpreceiver.StreamStatistics(clock_rate)
    ours = QuickStreamStatistics(clock_rate)
    with monkeypatch.context() as patched:
        for i, (sequence, timestamp, arrival) in enumerate(packets):
            patched.setattr(time, "time", lambda arrival=arrival: arrival)
            packet = types.SimpleNamespace(sequence_number=sequence, timestamp=timestamp)
            theirs.add(packet)
            ours.add(packet)
            assert vars(ours) == vars(theirs)
            if i % 7 == 0:  # what a Receiver Report reads (fraction_lost moves its priors)
                assert (ours.fraction_lost, ours.jitter, ours.packets_lost) == (
                    theirs.fraction_lost,
                    theirs.jitter,
                    theirs.packets_lost,
                )


def test_a_gap_is_reported_once_and_filled_by_the_retransmission():
    nack = QuickNackGenerator()
    for sequence in (65533, 65534, 2):  # 65535, 0 and 1 lost across the wrap
        missed = nack.add(types.SimpleNamespace(sequence_number=sequence))
    assert missed and nack.missing == {65535, 0, 1}
    assert not nack.add(types.SimpleNamespace(sequence_number=0))  # RTX brought it
    assert nack.missing == {65535, 1}

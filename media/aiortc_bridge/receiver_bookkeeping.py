"""aiortc's per-packet receiver bookkeeping, the same results with fewer calls per packet.

For every received packet aiortc's receiver updates a ``StreamStatistics`` (what its
Receiver Reports and ``getStats`` say: packets, sequence cycles, jitter) and, for video,
a ``NackGenerator`` (which packets to ask for again). Both are small, but each packet
costs them five to seven Python calls, mostly ``uint16_gt``/``uint16_add`` and a
``truncate`` that copies the (almost always empty) missing set. The subclasses here do
the same arithmetic inline; everything else, and every value they hold, is aiortc's.
Tests hold each to its parent after every packet.
"""

from __future__ import annotations

import time
from typing import Protocol

import aiortc.rtcrtpreceiver


class _Packet(Protocol):
    sequence_number: int
    timestamp: int


class QuickStreamStatistics(aiortc.rtcrtpreceiver.StreamStatistics):
    """``StreamStatistics`` whose ``add`` inlines the sequence comparison."""

    def add(self, packet: _Packet) -> None:
        seq = packet.sequence_number
        max_seq = self.max_seq
        self.packets_received += 1
        if self.base_seq is None:
            self.base_seq = seq
        # (seq - max_seq) & 0xFFFF in 1..0x7FFF is aiortc's uint16_gt(seq, max_seq)
        if max_seq is None or 0 < (seq - max_seq) & 0xFFFF < 0x8000:
            arrival = int(time.time() * self._clockrate)
            if max_seq is not None and seq < max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
            timestamp = packet.timestamp
            last_timestamp = self._last_timestamp
            if timestamp != last_timestamp and self.packets_received > 1:
                # both set by the packet before (aiortc reads them the same way)
                arrival_delta = arrival - self._last_arrival  # type: ignore[operator]
                diff = abs(arrival_delta - (timestamp - last_timestamp))  # type: ignore[operator]
                self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)
            self._last_arrival = arrival
            self._last_timestamp = timestamp


class QuickNackGenerator(aiortc.rtcrtpreceiver.NackGenerator):
    """``NackGenerator`` whose ``add`` inlines the sequence arithmetic and trims the
    missing set only when there is something in it."""

    def add(self, packet: _Packet) -> bool:
        seq = packet.sequence_number
        max_seq = self.max_seq
        if max_seq is None:
            self.max_seq = seq
            return False
        missed = False
        missing = self.missing
        ahead = (seq - max_seq) & 0xFFFF
        if 0 < ahead < 0x8000:
            if ahead > 1:  # every sequence number between the newest and this one
                gap = (max_seq + 1) & 0xFFFF
                while gap != seq:
                    missing.add(gap)
                    gap = (gap + 1) & 0xFFFF
                missed = True
            self.max_seq = seq
        else:
            missing.discard(seq)
        if missing:
            self.truncate()
        return missed

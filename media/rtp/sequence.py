"""RTP sequence-number arithmetic (16 bits, wrapping: RFC 3550 §A.1)."""

from __future__ import annotations


def seq_newer(a: int, b: int) -> bool:
    """RTP sequence number ``a`` comes after ``b`` (16-bit wrap-around)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000

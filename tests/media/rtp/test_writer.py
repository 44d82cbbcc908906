"""The packets a downstream leg writes: every field reads back in aiortc's own parser, and
the layout follows the sender's answer."""

from __future__ import annotations

import datetime
import struct

import pytest
from aiortc import clock
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx
from hypothesis import given
from hypothesis import strategies as st

from media.rtp.writer import (
    ABS_SEND_TIME_URI,
    MID_URI,
    RtpStreamLayout,
    abs_send_time,
    ntp_ms,
    ntp_time,
    rtp_packet,
    rtx_payload,
    stream_layout,
)

EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=4, uri=MID_URI),
    RTCRtpHeaderExtensionParameters(id=9, uri=ABS_SEND_TIME_URI),
]


def parsed(data: bytes) -> RtpPacket:
    """What aiortc (the reference reader here) makes of our bytes."""
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpSendParameters(headerExtensions=EXTENSIONS))
    return RtpPacket.parse(data, extensions)


@pytest.mark.bridge  # held to aiortc's own reader/clock
@given(
    payload_type=st.integers(0, 127),
    marker=st.booleans(),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    mid=st.text("0123456789abcdefghij", min_size=1, max_size=16),
    send_time=st.integers(0, 0xFFFFFF),
    payload=st.binary(min_size=1, max_size=1200),
)
def test_a_written_packet_reads_back_with_every_field(
    payload_type, marker, sequence_number, timestamp, ssrc, mid, send_time, payload
):
    layout = RtpStreamLayout(
        payload_type=payload_type, ssrc=ssrc, mid_id=4, mid=mid, abs_send_time_id=9
    )
    data = rtp_packet(
        payload_type,
        marker,
        sequence_number,
        timestamp,
        ssrc,
        layout.extensions(send_time),
        payload,
    )
    packet = parsed(data)
    assert (packet.payload_type, bool(packet.marker)) == (payload_type, marker)
    assert (packet.sequence_number, packet.timestamp, packet.ssrc) == (
        sequence_number,
        timestamp,
        ssrc,
    )
    assert packet.extensions.mid == mid
    assert packet.extensions.abs_send_time == send_time
    assert packet.payload == payload
    assert packet.padding_size == 0


@pytest.mark.bridge  # held to aiortc's own reader/clock
def test_a_layout_without_extensions_writes_a_plain_header():
    data = rtp_packet(96, True, 7, 8, 9, RtpStreamLayout(96, 9).extensions(123), b"x")
    assert data == struct.pack("!BBHII", 0x80, 0x80 | 96, 7, 8, 9) + b"x"
    assert parsed(data).extensions.abs_send_time is None


@pytest.mark.parametrize(
    "layout",
    [
        {"mid_id": 15, "mid": "0"},  # 15 is reserved in the one-byte form
        {"abs_send_time_id": 0},
        {"mid_id": 1, "mid": "m" * 17},
        {"mid_id": 1, "mid": ""},
    ],
)
def test_a_layout_a_one_byte_header_cannot_carry_is_refused(layout):
    with pytest.raises(ValueError, match="one-byte header extension"):
        RtpStreamLayout(payload_type=96, ssrc=1, **layout)


@pytest.mark.bridge  # held to aiortc's own reader/clock
def test_rtx_payload_unwraps_to_the_original_packet():
    original = rtp_packet(96, False, 4242, 90000, 11, b"", b"vp8 payload")
    rtx = rtp_packet(97, False, 1, 90000, 22, b"", rtx_payload(4242, b"vp8 payload"))
    unwrapped = unwrap_rtx(RtpPacket.parse(rtx), payload_type=96, ssrc=11)
    assert bytes(unwrapped.serialize()) == original


@pytest.mark.bridge  # held to aiortc's own reader/clock
def test_send_times_match_aiortcs_clock():
    instant = datetime.datetime(2026, 11, 23, 8, 30, 15, 250000, tzinfo=datetime.UTC)
    ntp = clock.datetime_to_ntp(instant)
    assert abs(ntp_time(instant.timestamp()) - ntp) < 2**12  # within a microsecond
    assert abs_send_time(instant.timestamp()) == (ntp >> 14) & 0xFFFFFF
    # aiortc's arrival clock (clock.current_ms) on the same instant
    since_era = instant - datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)
    assert ntp_ms(instant.timestamp()) == int(since_era.total_seconds() * 1000)


def test_the_layout_follows_the_answer():
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=100)
    rtx = RTCRtpCodecParameters(
        mimeType="video/rtx", clockRate=90000, payloadType=101, parameters={"apt": 100}
    )
    other_rtx = RTCRtpCodecParameters(
        mimeType="video/rtx", clockRate=90000, payloadType=103, parameters={"apt": 102}
    )
    parameters = RTCRtpSendParameters(
        codecs=[vp8, other_rtx, rtx],
        headerExtensions=EXTENSIONS,
        muxId="1",
        rtcp=RTCRtcpParameters(cname="x"),
    )
    layout = stream_layout(parameters, ssrc=5, rtx_ssrc=6)
    assert layout == RtpStreamLayout(
        payload_type=100,
        ssrc=5,
        rtx_payload_type=101,
        rtx_ssrc=6,
        mid_id=4,
        mid="1",
        abs_send_time_id=9,
    )
    opus = RTCRtpCodecParameters(
        mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111
    )
    plain = stream_layout(RTCRtpSendParameters(codecs=[opus]), ssrc=5, rtx_ssrc=6)
    assert (plain.rtx_payload_type, plain.rtx_ssrc, plain.mid_id, plain.abs_send_time_id) == (
        None,
        None,
        None,
        None,
    )

"""media.rtp.reader reads what aiortc's own parser and VP8 depayloader read, and refuses no
packet aiortc would take."""

from __future__ import annotations

import aiortc.codecs.vpx
import aiortc.rtp
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp.reader import (
    InboundRtp,
    abs_send_time_of,
    header_extension,
    parse_rtp,
    unwrap_rtx,
    vp8_payload,
)

pytestmark = pytest.mark.bridge


MID, AUDIO_LEVEL, ABS_SEND_TIME, TRANSPORT_CC = 1, 2, 3, 5
EXTENSIONS = aiortc.rtp.HeaderExtensionsMap()
EXTENSIONS.configure(
    RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=MID, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=AUDIO_LEVEL, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
            ),
            RTCRtpHeaderExtensionParameters(
                id=ABS_SEND_TIME,
                uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            ),
            RTCRtpHeaderExtensionParameters(
                id=TRANSPORT_CC,
                uri="http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            ),
        ]
    )
)

U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def aiortc_packets(draw: st.DrawFn) -> bytes:
    """A packet as aiortc writes it: any header, CSRCs, padding, and any subset of the
    negotiated extensions (a MID over 16 bytes makes aiortc use the two-byte form)."""
    packet = aiortc.rtp.RtpPacket(
        payload_type=draw(st.integers(0, 127)),
        marker=draw(st.integers(0, 1)),
        sequence_number=draw(U16),
        timestamp=draw(U32),
        ssrc=draw(U32),
        payload=draw(st.binary(max_size=64)),
    )
    packet.csrc = draw(st.lists(U32, max_size=3))
    packet.padding_size = draw(st.integers(0, 20))
    packet.extensions.mid = draw(st.none() | st.text("0123456789abcdef", min_size=1, max_size=20))
    packet.extensions.abs_send_time = draw(st.none() | st.integers(0, 0xFFFFFF))
    packet.extensions.audio_level = draw(st.none() | st.tuples(st.booleans(), st.integers(0, 127)))
    packet.extensions.transport_sequence_number = draw(st.none() | U16)
    return packet.serialize(EXTENSIONS)


def same_header(ours: InboundRtp, theirs: aiortc.rtp.RtpPacket) -> None:
    assert (
        ours.payload_type,
        ours.marker,
        ours.sequence_number,
        ours.timestamp,
        ours.ssrc,
        ours.payload,
        ours.padding_size,
    ) == (
        theirs.payload_type,
        theirs.marker,
        theirs.sequence_number,
        theirs.timestamp,
        theirs.ssrc,
        theirs.payload,
        theirs.padding_size,
    )


@settings(max_examples=300, deadline=None)
@given(aiortc_packets())
def test_a_packet_reads_as_aiortc_reads_it(data):
    theirs = aiortc.rtp.RtpPacket.parse(data, EXTENSIONS)
    ours = parse_rtp(data)
    same_header(ours, theirs)
    assert abs_send_time_of(ours, ABS_SEND_TIME) == theirs.extensions.abs_send_time
    mid = header_extension(ours, MID)
    assert (mid.decode() if mid is not None else None) == theirs.extensions.mid
    assert header_extension(ours, 9) is None  # not in the packet


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80) | aiortc_packets().map(lambda d: d[: len(d) // 2]))
def test_nothing_aiortc_takes_is_refused_and_what_is_refused_aiortc_refuses(data):
    try:
        theirs = aiortc.rtp.RtpPacket.parse(data, EXTENSIONS)
    except ValueError:
        theirs = None
    try:
        ours = parse_rtp(data)
    except ValueError:
        assert theirs is None, "refused a packet aiortc takes"
        return
    if theirs is not None:
        same_header(ours, theirs)
    # else: a malformed element inside the extension block, which only aiortc reads through


def test_refusals_say_what_is_wrong():
    with pytest.raises(ValueError, match="less than 12 bytes"):
        parse_rtp(b"\x80\x60\x00")
    with pytest.raises(ValueError, match="invalid version"):
        parse_rtp(bytes([0x40]) + bytes(11))
    with pytest.raises(ValueError, match="truncated CSRC"):
        parse_rtp(bytes([0x82]) + bytes(15))
    with pytest.raises(ValueError, match="truncated extension value"):
        parse_rtp(bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4))
    with pytest.raises(ValueError, match="padding length"):
        parse_rtp(bytes([0xA0]) + bytes(11) + b"\x05")


def test_an_abs_send_time_of_the_wrong_size_is_not_read():
    # one-byte form, id 3 with a 2-byte value: not an abs-send-time
    packet = parse_rtp(bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x01" + b"\x31\x01\x02\x00")
    assert header_extension(packet, ABS_SEND_TIME) == b"\x01\x02"
    assert abs_send_time_of(packet, ABS_SEND_TIME) is None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=12) | st.binary(min_size=1, max_size=8).map(lambda b: b"\x80" + b))
def test_vp8_descriptor_ends_where_aiortcs_depayloader_says(payload):
    try:
        theirs = aiortc.codecs.vpx.vp8_depayload(payload)
    except ValueError:
        with pytest.raises(ValueError):
            vp8_payload(payload)
        return
    assert vp8_payload(payload) == theirs


@given(aiortc_packets())
def test_a_retransmission_unwraps_as_in_aiortc(data):
    rtx = parse_rtp(data)
    if len(rtx.payload) < 2:
        return
    theirs = aiortc.rtp.unwrap_rtx(
        aiortc.rtp.RtpPacket.parse(data, EXTENSIONS), payload_type=96, ssrc=1234
    )
    ours = unwrap_rtx(rtx, payload_type=96, ssrc=1234)
    same_header(ours, theirs)
    assert abs_send_time_of(ours, ABS_SEND_TIME) == theirs.extensions.abs_send_time

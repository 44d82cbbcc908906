"""What the server needs to know about an encoded frame without decoding it.

The forwarder, the recorder and the keyframe logic only ever ask one question
of a frame's bytes: can a decoder start here? Everything else stays opaque.
"""

from __future__ import annotations

H264_NAL_IDR = 5
H264_NAL_SPS = 7


def codec_name(mime_type: str) -> str:
    """ffmpeg's name for an RTP codec: ``video/VP8`` → ``vp8``, ``video/H264`` → ``h264``
    (the names :func:`is_keyframe`, the decoders and the muxer take)."""
    return mime_type.split("/", 1)[-1].lower()


def vp8_is_keyframe(data: bytes) -> bool:
    """VP8 frame tag (RFC 6386 §9.1): bit 0 of the first byte is 0 on a key frame."""
    return len(data) > 0 and data[0] & 0x01 == 0


def h264_is_keyframe(data: bytes) -> bool:
    """True when an Annex-B access unit holds an IDR slice or an SPS.

    aiortc's H.264 depayloader emits Annex-B with 4-byte start codes; 3-byte
    ones are accepted too. A browser sends SPS+PPS+IDR together, so SPS alone
    marks the start of a decodable sequence as well.
    """
    i = 0
    end = len(data)
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0 or i + 3 >= end:
            return False
        nal_type = data[i + 3] & 0x1F
        if nal_type in (H264_NAL_IDR, H264_NAL_SPS):
            return True
        i += 3


def is_keyframe(codec: str, data: bytes) -> bool:
    """Keyframe flag for a frame of ``codec`` (ffmpeg name: vp8, h264, opus…).

    Audio frames are all independently decodable for our purposes: Opus keeps
    no inter-frame state that a receiver cannot recover from within a packet.
    """
    if codec == "vp8":
        return vp8_is_keyframe(data)
    if codec == "h264":
        return h264_is_keyframe(data)
    return True

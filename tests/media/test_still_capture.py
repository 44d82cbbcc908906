"""Still capture: encode a known synthetic pattern with PyAV, decode it back."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from media.still_capture import (
    NoKeyframe,
    StillDecodeError,
    StillDecoder,
    UnsupportedCodec,
    decode_latest,
    is_keyframe,
    normalise_codec,
)

W, H = 640, 480
FRAMES = 12


def pattern(i: int) -> npt.NDArray[np.uint8]:
    """Smooth gradients, hard-edged shapes and text, with a disc that moves
    with ``i`` so every frame differs and the newest one is recognisable."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.empty((H, W, 3), np.float32)
    img[..., 0] = 60 + 120 * xx / W
    img[..., 1] = 60 + 120 * yy / H
    img[..., 2] = 120 + 60 * np.sin(xx / 40.0) * np.cos(yy / 50.0)
    out = img.astype(np.uint8)
    cv2.rectangle(out, (40, 40), (200, 160), (30, 200, 240), -1)
    cv2.putText(out, "shouzhen", (260, 420), cv2.FONT_HERSHEY_SIMPLEX, 2, (250, 250, 250), 4)
    cv2.circle(out, (100 + 35 * i, 300), 50, (20, 20, 200), -1)
    return out


def encode(codec: str) -> tuple[list[av.Packet], list[npt.NDArray[np.uint8]]]:
    if codec == "vp8":
        enc = av.CodecContext.create("libvpx", "w")
        # Realtime, no look-ahead: what a browser's VP8 encoder sends.
        enc.options = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "4"}
    else:
        enc = av.CodecContext.create("libx264", "w")
        enc.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline"}
    enc.width, enc.height = W, H
    enc.pix_fmt = "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.framerate = Fraction(30)
    enc.bit_rate = 4_000_000
    sources = [pattern(i) for i in range(FRAMES)]
    packets: list[av.Packet] = []
    for i, img in enumerate(sources):
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    return packets, sources


@pytest.fixture(scope="module", params=["vp8", "h264"])
def stream(
    request: pytest.FixtureRequest,
) -> tuple[str, list[av.Packet], list[npt.NDArray[np.uint8]]]:
    packets, sources = encode(request.param)
    assert len(packets) == FRAMES
    return request.param, packets, sources


def test_latest_frame_has_source_resolution_and_psnr_over_30db(stream) -> None:
    codec, packets, sources = stream
    still = decode_latest(packets, codec)
    assert (still.width, still.height) == (W, H)
    assert still.array.shape == (H, W, 3) and still.array.dtype == np.uint8
    assert still.frames_decoded == FRAMES
    psnr = cv2.PSNR(still.array, sources[-1])
    assert psnr > 30.0, f"{codec}: PSNR {psnr:.1f} dB"


def test_returns_the_newest_frame_not_the_keyframe(stream) -> None:
    codec, packets, sources = stream
    still = decode_latest(packets, codec)
    assert cv2.PSNR(still.array, sources[-1]) > cv2.PSNR(still.array, sources[0]) + 5


def test_png_is_a_lossless_copy_of_the_array(stream) -> None:
    codec, packets, _ = stream
    still = decode_latest(packets, codec)
    assert still.png.startswith(b"\x89PNG\r\n\x1a\n")
    back = cv2.imdecode(np.frombuffer(still.png, np.uint8), cv2.IMREAD_COLOR)
    assert back is not None
    assert np.array_equal(back, still.array)


def test_a_sequence_starting_after_the_keyframe_is_refused(stream) -> None:
    codec, packets, _ = stream
    assert is_keyframe(bytes(packets[0]), codec)
    assert not is_keyframe(bytes(packets[1]), codec)
    with pytest.raises(NoKeyframe):
        decode_latest(packets[1:], codec)


def test_empty_sequence_is_no_keyframe() -> None:
    with pytest.raises(NoKeyframe):
        decode_latest([], "vp8")
    with pytest.raises(NoKeyframe):
        StillDecoder("h264").finish()


def test_decoding_leaves_the_forwarded_packets_untouched(stream) -> None:
    codec, packets, _ = stream
    before = [(bytes(p), p.pts, p.time_base) for p in packets]
    decode_latest(packets, codec)
    assert [(bytes(p), p.pts, p.time_base) for p in packets] == before


def test_decoder_is_single_use(stream) -> None:
    codec, packets, _ = stream
    decoder = StillDecoder(codec)
    for p in packets[:3]:
        decoder.feed(p)
    still = decoder.finish()
    assert still.frames_decoded == 3
    with pytest.raises(RuntimeError):
        decoder.feed(packets[3])


def test_garbage_after_a_keyframe_header_is_a_decode_error() -> None:
    # A VP8 key frame tag and start code followed by nonsense.
    junk = av.Packet(b"\x10\x02\x00\x9d\x01\x2a\x80\x02\xe0\x01" + bytes(range(256)) * 4)
    with pytest.raises(StillDecodeError):
        decode_latest([junk], "vp8")


def test_codec_names_from_sdp_are_accepted_and_others_refused() -> None:
    assert normalise_codec("video/VP8") == "vp8"
    assert normalise_codec("H264") == "h264"
    with pytest.raises(UnsupportedCodec):
        normalise_codec("video/VP9")

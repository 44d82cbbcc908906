"""Photo intake: original bytes kept as the record, the upright image scored."""

from __future__ import annotations

import hashlib
import struct
import zlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from media.still_capture import StillFrame
from server.photos.photo_intake import (
    CaptureSource,
    DecompressionBomb,
    ImageRejected,
    ImageTooLarge,
    IntakeLimits,
    MimeMismatch,
    NotAnImage,
    TruncatedImage,
    UnsupportedImageType,
    intake_still,
    intake_upload,
)
from server.photos.photo_quality import ImageFormat, QualityFlag


def _scene(w: int = 1280, h: int = 960) -> npt.NDArray[np.uint8]:
    """Sharp, well-exposed, skin-coloured texture at the preferred size."""
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1, (h, w)).astype(np.float32)
    texture = np.asarray(cv2.GaussianBlur(noise, (0, 0), 1.0), np.float32)
    texture /= texture.std()
    tone = np.array([95, 125, 175], np.float32)
    return np.clip(tone * (1 + 0.08 * texture[..., None]), 0, 255).astype(np.uint8)


def _jpeg(img: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def _with_exif(jpeg: bytes, orientation: int, gps: bool = False) -> bytes:
    entries = [struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)]
    if gps:
        entries.append(struct.pack(">HHII", 0x8825, 4, 1, 8 + 2 + 24 + 4))
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", len(entries)) + b"".join(entries)
    tiff += struct.pack(">I", 0) + (struct.pack(">HI", 0, 0) if gps else b"")
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.fixture(scope="module")
def scene() -> npt.NDArray[np.uint8]:
    return _scene()


def test_good_photo_is_kept_byte_for_byte_and_passes(scene: npt.NDArray[np.uint8]) -> None:
    data = _jpeg(scene)
    photo = intake_upload(data, "image/jpeg")
    assert photo.data is data
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert photo.byte_size == len(data)
    assert (photo.format, photo.mime, photo.source) == (
        ImageFormat.JPEG,
        "image/jpeg",
        CaptureSource.DEVICE,
    )
    assert (photo.width, photo.height) == (1280, 960) == (photo.stored_width, photo.stored_height)
    assert photo.lossy and photo.trailing_bytes == 0 and photo.exif_orientation == 1
    assert photo.quality.flags == (), photo.quality


def test_exif_rotation_is_noted_and_the_upright_image_scored(scene: npt.NDArray[np.uint8]) -> None:
    data = _with_exif(_jpeg(scene), orientation=6, gps=True)
    photo = intake_upload(data, "image/jpeg", source=CaptureSource.UPLOAD)
    assert photo.data == data  # the record keeps the EXIF as sent
    assert photo.exif_orientation == 6 and photo.exif_has_gps
    assert (photo.stored_width, photo.stored_height) == (1280, 960)
    assert (photo.width, photo.height) == (960, 1280)
    assert (photo.quality.width, photo.quality.height) == (960, 1280)
    assert photo.source is CaptureSource.UPLOAD


def test_blurred_photo_is_flagged_for_a_retake(scene: npt.NDArray[np.uint8]) -> None:
    blurred = np.asarray(cv2.GaussianBlur(scene, (0, 0), 4), np.uint8)
    photo = intake_upload(_jpeg(blurred), "image/jpeg")
    assert QualityFlag.BLURRY in photo.quality.flags and photo.quality.needs_retake


def test_appended_data_is_counted_not_refused(scene: npt.NDArray[np.uint8]) -> None:
    data = _jpeg(scene) + b"\x00\x00\x00\x18ftypmp42" + bytes(1000)  # a motion-photo clip
    assert intake_upload(data, "image/jpeg").trailing_bytes == 1012


def test_png_upload_is_lossless(scene: npt.NDArray[np.uint8]) -> None:
    _ok, png = cv2.imencode(".png", scene)
    photo = intake_upload(png.tobytes(), "image/png")
    assert photo.format is ImageFormat.PNG and not photo.lossy


def _png_bomb() -> bytes:
    def chunk(ctype: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + ctype
            + body
            + struct.pack(">I", zlib.crc32(ctype + body))
        )

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(64)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("make", "mime", "error", "code"),
    [
        (lambda s: _jpeg(s), "image/png", MimeMismatch, "mime_mismatch"),
        (lambda s: _jpeg(s), "application/octet-stream", MimeMismatch, "mime_mismatch"),
        (lambda s: _jpeg(s)[:-5000], "image/jpeg", TruncatedImage, "truncated_image"),
        (lambda s: b"<html>not a photo</html>", "image/jpeg", NotAnImage, "not_an_image"),
        (
            lambda s: b"GIF89a" + bytes(32),
            "image/gif",
            UnsupportedImageType,
            "unsupported_image_type",
        ),
        (lambda s: _png_bomb(), "image/png", DecompressionBomb, "decompression_bomb"),
    ],
)
def test_refusals_are_typed_with_stable_codes(scene, make, mime, error, code) -> None:
    with pytest.raises(error) as caught:
        intake_upload(make(scene), mime)
    assert isinstance(caught.value, ImageRejected) and caught.value.code == code


def test_limits_come_from_configuration(scene: npt.NDArray[np.uint8]) -> None:
    data = _jpeg(scene)
    with pytest.raises(ImageTooLarge):
        intake_upload(data, "image/jpeg", limits=IntakeLimits(max_bytes=len(data) - 1))
    with pytest.raises(DecompressionBomb):
        intake_upload(data, "image/jpeg", limits=IntakeLimits(max_pixels=1280 * 960 - 1))


def test_stream_still_keeps_its_png_and_is_scored_from_the_array() -> None:
    frame = _scene(640, 480)
    _ok, png = cv2.imencode(".png", frame)
    still = StillFrame(
        width=640, height=480, png=png.tobytes(), array=frame, codec="h264", frames_decoded=30
    )
    photo = intake_still(still)
    assert photo.data == still.png and photo.sha256 == hashlib.sha256(still.png).hexdigest()
    assert photo.source is CaptureSource.STREAM and photo.stream_codec == "h264"
    assert photo.format is ImageFormat.PNG and photo.lossy  # it went through H.264
    assert photo.quality.flags == (QualityFlag.BELOW_MINIMUM_RESOLUTION,)


def test_stream_source_is_not_an_upload(scene: npt.NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError):
        intake_upload(_jpeg(scene), "image/jpeg", source=CaptureSource.STREAM)

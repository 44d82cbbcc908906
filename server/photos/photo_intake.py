"""Validate a skin photo and make it ready for storage - pure, no DB, no HTTP.

What is kept as the record: the **original bytes** as the guardian's phone
sent them, byte for byte, with their SHA-256.  They are what the camera
produced (re-encoding would lose detail and break the hash chain back to the
upload), and they carry the EXIF orientation, which is recorded next to them.
What is scored: the decoded, upright image (EXIF orientation applied), so the
quality scores and the width/height the physician sees match what a browser
displays.

A still decoded from the video stream has no original file: its lossless PNG
(``StillFrame.png``) is the record, and the codec it came through is noted
(the picture has been through lossy video compression).

Run ``intake_upload`` / ``intake_still`` in an executor: decoding and scoring
a 12 MP photo takes a few hundred milliseconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from media.still_capture import StillFrame
from server.photos.photo_quality import (
    DEFAULT_THRESHOLDS,
    DecompressionBomb,
    ImageFormat,
    ImageRejected,
    ImageTooLarge,
    MimeMismatch,
    NotAnImage,
    PhotoQuality,
    QualityThresholds,
    TruncatedImage,
    UnsupportedImageType,
    assess_photo,
    decode_image_info,
    read_image_header,
)

__all__ = [
    "DEFAULT_LIMITS",
    "CaptureSource",
    "DecompressionBomb",
    "ImageRejected",
    "ImageTooLarge",
    "IntakeLimits",
    "IntakePhoto",
    "MimeMismatch",
    "NotAnImage",
    "TruncatedImage",
    "UnsupportedImageType",
    "check_header",
    "intake_still",
    "intake_upload",
]


class CaptureSource(StrEnum):
    """How a photo reached us; recorded with it and in its DICOM export."""

    DEVICE = "device"  # the guardian's camera still (ImageCapture), sent with a capture token
    STREAM = "stream"  # decoded from the guardian's forwarded video (fallback)
    UPLOAD = "upload"  # a file the guardian picked, e.g. in the intake form


@dataclass(frozen=True)
class IntakeLimits:
    """Configuration.  50 MP admits the 48/50 MP modes of current phones; a
    decoded 50 MP image is 150 MB of BGR, which bounds one intake's memory."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000


DEFAULT_LIMITS = IntakeLimits()


@dataclass(frozen=True)
class IntakePhoto:
    data: bytes = field(repr=False)  # the record: original bytes (or the still's PNG)
    sha256: str  # hex digest of ``data``
    byte_size: int
    format: ImageFormat
    mime: str  # from the magic bytes, not from what the client declared
    source: CaptureSource
    stored_width: int  # as encoded
    stored_height: int
    width: int  # upright, as displayed and scored
    height: int
    exif_orientation: int  # 1..8; 1 when absent
    exif_has_gps: bool  # the original carries a GPS sub-IFD (location of capture)
    lossy: bool  # the pixels went through lossy compression (JPEG, lossy WebP, video)
    trailing_bytes: int  # bytes after the image's end marker (e.g. a motion-photo clip)
    quality: PhotoQuality
    stream_codec: str | None = None  # "vp8" / "h264" for a stream still


def check_header(data: bytes, declared_mime: str, limits: IntakeLimits = DEFAULT_LIMITS) -> None:
    """The checks that need no decoding — size, type, structure, declared width × height
    against ``limits.max_pixels`` — as ``intake_upload`` makes them first: cheap enough for
    the event loop, so a photo refused here never takes a decode place."""
    header = read_image_header(data, declared_mime=declared_mime, max_bytes=limits.max_bytes)
    if header.pixels > limits.max_pixels:
        raise DecompressionBomb(
            f"{header.width}x{header.height} = {header.pixels} pixels is over the limit of "
            f"{limits.max_pixels}")


def intake_upload(
    data: bytes,
    declared_mime: str,
    *,
    source: CaptureSource = CaptureSource.DEVICE,
    limits: IntakeLimits = DEFAULT_LIMITS,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
) -> IntakePhoto:
    """Check and score an uploaded photo.

    ``declared_mime`` is the Content-Type the client gave the file part (pass
    what was received; a missing one should be passed as
    ``"application/octet-stream"``, which is refused as ``MimeMismatch``).
    Raises an ``ImageRejected`` subclass; its ``code`` is stable for the API.
    """
    if source is CaptureSource.STREAM:
        raise ValueError("stream stills come through intake_still")
    decoded = decode_image_info(
        data, declared_mime=declared_mime, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes
    )
    header = decoded.header
    return IntakePhoto(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        byte_size=len(data),
        format=header.format,
        mime=header.mime,
        source=source,
        stored_width=header.width,
        stored_height=header.height,
        width=decoded.width,
        height=decoded.height,
        exif_orientation=header.exif_orientation,
        exif_has_gps=header.exif_has_gps,
        lossy=header.lossy,
        trailing_bytes=len(data) - header.end_offset,
        quality=assess_photo(decoded.image, thresholds),
    )


def intake_still(
    still: StillFrame, *, thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> IntakePhoto:
    """The record of a still decoded from the video stream: its PNG, scored
    from the decoded array (no need to decode the PNG again)."""
    return IntakePhoto(
        data=still.png,
        sha256=hashlib.sha256(still.png).hexdigest(),
        byte_size=len(still.png),
        format=ImageFormat.PNG,
        mime=ImageFormat.PNG.mime,
        source=CaptureSource.STREAM,
        stored_width=still.width,
        stored_height=still.height,
        width=still.width,
        height=still.height,
        exif_orientation=1,
        exif_has_gps=False,
        lossy=True,
        trailing_bytes=0,
        quality=assess_photo(still.array, thresholds),
        stream_codec=still.codec,
    )

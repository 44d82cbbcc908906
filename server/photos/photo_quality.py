"""Quality scores for skin photos, and safe decoding of uploaded images.

A dermatology photo is part of the medical record (kept >= 15 years), so a poor
one should be caught while the guardian is still on the call.  Everything here
is a pure function over bytes or a decoded BGR ``numpy`` array (OpenCV's
convention); the caller runs it in an executor, never on the forwarding path.

Scores
======
All scores are measured on a **working copy** whose longest side is at most
``WORKING_LONG_SIDE`` = 1024 px (``cv2.INTER_AREA``; smaller images are scored at
their own size, never upscaled).

* Why 1024: it is the long side of the 1024x768 size we ask for, so "sharp"
  means "carries detail at the scale we require", and a 12 MP phone still
  (4000x3000) and a 640x480 video frame are measured at comparable pixel
  scales.  For natural images (amplitude spectrum ~ 1/f, the same energy per
  octave) the variance of a 3x3 Laplacian depends little on the sampling, so
  an in-focus scene scores about the same whether it was captured at 640 px or
  at 3000 px and reduced to 1024 px (calibration: the 640x480 capture scores
  1.2-1.3x the reduced still; blurred versions score the same).  At full
  resolution a phone still's finest pixels are softened by optics,
  demosaicing and denoising, so its score would depend on the phone rather
  than on the focus.  Upscaling a small image would invent blur, so small
  images keep their size; their lack of pixels is reported by the resolution
  flags instead.  Area averaging also divides sensor noise, which otherwise
  inflates the Laplacian of dim shots.
* **sharpness** - variance of ``cv2.Laplacian`` (3x3 aperture, float64) of the
  grayscale working copy, *brightness-normalised*: multiplied by
  ``(128 / mean luma)**2`` (mean floored at 16), i.e. measured as if the frame's
  mean luma were mid-grey.  Skin texture is reflectance x illumination, so the
  raw variance scales with the square of the skin's brightness: in the
  calibration below an in-focus dark-skin scene scores 38 raw against 228 for
  light skin - below a light-skin scene blurred by 1 px - and a raw threshold
  would tell guardians of dark-skinned children to "hold still" for sharp
  photos.  Normalised, in-focus scenes of all three tones score 113..126.  The
  raw value is kept as ``PhotoQuality.laplacian_variance``.
* **exposure** - mean luma (BT.601, 0..255) and the share of pixels clipped to
  highlights (>= 250) and to shadows (<= 5).
* **glare** - share of specular pixels: HSV value > 240 and saturation < 30
  (skin is never that unsaturated: a bright, colourless spot is a reflection of
  the light source).  Connected specular regions larger than
  ``glare_max_blob_share`` of the frame (default 5 %) are *not* counted: a large
  uniform white area is a sheet, a wall or a blown-out background, which the
  exposure scores already report, while reflections on skin, ointment or a wet
  lesion are small scattered spots.
* **resolution** - of the upright image, orientation-free (long side x short
  side): ``below_minimum_resolution`` under 800x600 (the ATA store-and-forward
  teledermatology minimum), otherwise ``low_resolution`` under 1024x768.  Only
  the more severe of the two is reported.

Flag -> guidance: ``blurry`` -> ``hold_still``; ``too_dark`` -> ``more_light``;
``overexposed`` -> ``less_light``; ``glare`` -> ``avoid_glare``;
``low_resolution`` / ``below_minimum_resolution`` -> ``move_closer`` (a closer
shot puts more of the still's pixels on the lesion).  The page translates
codes into Chinese and English.

How the default thresholds were chosen
======================================
``bench/photo_quality_calibration.py`` synthesises skin scenes: a skin tone
(light / medium / dark, BGR 150,170,220 / 95,125,175 / 45,65,100) modulated by
band-limited noise with equal energy in every octave from 2 px to 512 px of a
3000 px rendering (natural-image statistics), a network of fine creases and six
lesion-like blobs with soft edges (plus a medium-tone variant with half the
texture).  Each scene is rendered at 3000x2250 and also reduced to 640x480 (a
lower-resolution camera seeing the same scene), then degraded: Gaussian blur
with sigma given *in working-copy pixels* (scaled up for the full-resolution
rendering), horizontal motion blur, Gaussian sensor noise (sigma 3 grey levels
at full resolution), exposure changes in stops applied in linear light (sRGB ~
gamma 2.2) with clipping, white colourless spots with soft rims covering a given
share of the frame, and a white sheet covering 30 % of it.  Output (three seeds
per cell, min..max; '*' = the 640x480 capture of the same scene)::

    sharpness (brightness-normalised)   light     medium       dark   medium, half texture
    none                             113..121   114..122   119..126         30..32
    none*                            143..153   145..154   149..158
    gauss 0.5 px                       31..33     32..34     37..39        9.8..10.3
    gauss 0.5 px*                      53..56     54..58     60..63
    gauss 1 px                       5.9..6.3   6.7..7.1 10.8..11.3        3.0..3.1
    gauss 1 px*                      6.0..6.4   6.8..7.2 10.7..11.2
    gauss 1.5 px                     2.2..2.3   2.9..3.1   6.7..7.0        1.9..2.0
    gauss 2 px                       1.3..1.4   2.0..2.1   5.7..5.9        1.6..1.6
    gauss 4 px                       0.9..0.9   1.5..1.5   3.6..3.8        1.0..1.1
    motion 3 px                        29..31     30..32     35..37        9.2..9.6
    motion 5 px                    16.5..17.4 17.4..18.3     22..23        5.9..6.1
    motion 9 px                      9.4..9.8 10.3..10.7 14.6..15.1        4.0..4.1
    motion 15 px                     5.8..6.0   6.7..6.9 10.5..10.8        2.9..3.0
    none + noise 3                   117..125   121..129   143..152         37..38
    gauss 2 px + noise 3             5.1..5.3   8.8..9.0     30..31        8.6..8.7
    (raw Laplacian variance, none:   223..234   126..132     37..39)

    exposure   mean luma / highlights >= 250 / shadows <= 5   (seed 1)
    stops           light              medium               dark
    -3         69 0.000 0.000     52 0.000 0.000     28 0.000 0.000
    -2         95 0.000 0.000     71 0.000 0.000     38 0.000 0.000
    -1.5      111 0.000 0.000     83 0.000 0.000     44 0.000 0.000
    -1        130 0.000 0.000     97 0.000 0.000     52 0.000 0.000
     0        178 0.000 0.000    133 0.000 0.000     71 0.000 0.000
    +0.5      207 0.000 0.000    156 0.000 0.000     83 0.000 0.000
    +1        232 0.043 0.000    182 0.000 0.000     97 0.000 0.000
    +1.5      250 0.790 0.000    207 0.000 0.000    114 0.000 0.000
    +2        253 0.975 0.000    230 0.001 0.000    134 0.000 0.000
    +2.5      254 0.980 0.000    246 0.450 0.000    156 0.000 0.000

    glare share (medium tone)          spots 0.05 % -> 0.0006    0.1 % -> 0.0014
    0.2 % -> 0.0025    0.3 % -> 0.0039    0.5 % -> 0.0065    1 % -> 0.0128
    no spots -> 0    white sheet 30 % -> 0    sheet + 0.5 % spots -> 0.0049
    (spots on the sheet merge with it)    light tone +1 stop, no spots -> 0.0258
    (clipped skin turns white in small patches; it is flagged overexposed too)

The defaults of ``QualityThresholds`` and why:

* ``min_sharpness = 15``: every in-focus scene (>= 113; >= 30 with half the
  texture) and every 0.5 px blur (>= 31) passes; every Gaussian blur of 1 px or
  more (<= 11.3) and motion blur of 9 px or more (<= 15.1) is flagged.  Known
  misses: a low-texture scene blurred by 0.5 px is flagged (10), and noise
  props up a blurred image (dark tone, 2 px blur + noise: 30, passes) - phone
  stills are denoised, video frames are smoothed by the codec, but a noisy dim
  shot can slip through.
* ``min_mean_luminance = 40``: a mean cannot tell dark skin from
  underexposure.  We chose not to flag well-exposed dark skin: within +-1 stop
  no tone is flagged, the dark tone is flagged from -2 stops, the lighter
  tones only beyond -3.  (Phone auto-exposure meters towards mid-grey, so real
  photos of dark skin sit higher than this fixed-exposure rendering.)
  ``max_shadow_clip_share = 0.25``: the synthetic scenes have no black areas,
  so this one is judgement: crushed blacks over a quarter of the frame mean a
  dark room, while a dark sleeve or background may legitimately fill less.
* ``max_mean_luminance = 220`` and ``max_highlight_clip_share = 0.05``: clipped
  highlights lose information whatever the tone; light skin is flagged from
  +1 stop (mean 232), medium from +2 (230), all tones at +0.5 pass.
* ``max_glare_share = 0.002``: specular spots covering 0.1 % of the frame pass
  (small glints on oily skin are harmless), 0.2 % and more are flagged; a white
  sheet is not glare.  ``glare_max_blob_share = 0.05``: a specular region larger
  than 5 % of the frame is background, not a reflection on skin.

These are synthetic: the absolute sharpness scale depends on how much texture
a scene has, and the synthetic texture is a guess at skin (a smooth close-up of
a baby's cheek may score lower).  Re-run the script with ``--images DIR`` on the
first photos of the pilot that dermatologists have labelled, and move the
thresholds (they are configuration) before the flags are more than advice.

Decoding uploads
================
``decode_image`` accepts JPEG, PNG and WebP only, recognised by their magic
bytes (the declared MIME type must agree), and reads the header itself before
any pixel is decoded: ``cv2.imdecode`` would allocate and fill the whole image
first, so a 200-byte PNG declaring 50000x50000 pixels could take 7.5 GB.  The
structure is walked to the end (JPEG segments and entropy-coded data up to the
EOI marker, PNG chunks with their CRCs up to IEND, WebP RIFF chunks): OpenCV 4.x
fills a truncated JPEG with grey and returns it as if it were whole (5.0
returns None instead); the walk gives the same typed answer under both.
Bytes after a JPEG's EOI are accepted: phones append motion-photo videos and
MPF secondary images there.

EXIF orientation is read from the JPEG APP1 segment, the PNG ``eXIf`` chunk or
the WebP ``EXIF`` chunk by this module and applied with numpy/OpenCV after
decoding with ``cv2.IMREAD_IGNORE_ORIENTATION``, so the behaviour is the same
for all three formats and for every OpenCV version; the orientation and the
presence of a GPS sub-IFD are returned in the header for the record.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt

# ---------------------------------------------------------------------------
# Quality scores
# ---------------------------------------------------------------------------

WORKING_LONG_SIDE = 1024
"""Longest side of the copy every score is measured on (see module docstring)."""

HIGHLIGHT_LEVEL = 250
SHADOW_LEVEL = 5
SHARPNESS_REFERENCE_LUMA = 128.0
SHARPNESS_MIN_MEAN_LUMA = 16.0

BGRImage = npt.NDArray[np.uint8]


class QualityFlag(StrEnum):
    BLURRY = "blurry"
    TOO_DARK = "too_dark"
    OVEREXPOSED = "overexposed"
    GLARE = "glare"
    LOW_RESOLUTION = "low_resolution"
    BELOW_MINIMUM_RESOLUTION = "below_minimum_resolution"


class Guidance(StrEnum):
    HOLD_STILL = "hold_still"
    MORE_LIGHT = "more_light"
    LESS_LIGHT = "less_light"
    AVOID_GLARE = "avoid_glare"
    MOVE_CLOSER = "move_closer"


_GUIDANCE_FOR: dict[QualityFlag, Guidance] = {
    QualityFlag.BLURRY: Guidance.HOLD_STILL,
    QualityFlag.TOO_DARK: Guidance.MORE_LIGHT,
    QualityFlag.OVEREXPOSED: Guidance.LESS_LIGHT,
    QualityFlag.GLARE: Guidance.AVOID_GLARE,
    QualityFlag.LOW_RESOLUTION: Guidance.MOVE_CLOSER,
    QualityFlag.BELOW_MINIMUM_RESOLUTION: Guidance.MOVE_CLOSER,
}


@dataclass(frozen=True)
class QualityThresholds:
    """Where a score becomes a flag.  Defaults from the calibration above;
    the server's configuration overrides any of them (``from_mapping``)."""

    min_sharpness: float = 15.0
    min_mean_luminance: float = 40.0
    max_mean_luminance: float = 220.0
    max_shadow_clip_share: float = 0.25
    max_highlight_clip_share: float = 0.05
    glare_min_value: int = 240
    glare_max_saturation: int = 30
    glare_max_blob_share: float = 0.05
    max_glare_share: float = 0.002
    preferred_long_side: int = 1024
    preferred_short_side: int = 768
    minimum_long_side: int = 800
    minimum_short_side: int = 600

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> QualityThresholds:
        """Defaults overridden by configuration; unknown keys are an error so a
        typo in the configuration does not silently keep the default."""
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown photo quality thresholds: {sorted(unknown)}")
        return cls(**dict(values))


DEFAULT_THRESHOLDS = QualityThresholds()


@dataclass(frozen=True)
class Exposure:
    mean_luminance: float
    highlight_clip_share: float
    shadow_clip_share: float


@dataclass(frozen=True)
class PhotoQuality:
    """Raw scores, flags and guidance for one upright image."""

    width: int
    height: int
    sharpness: float
    laplacian_variance: float
    mean_luminance: float
    highlight_clip_share: float
    shadow_clip_share: float
    glare_share: float
    flags: tuple[QualityFlag, ...]
    guidance: tuple[Guidance, ...]

    @property
    def needs_retake(self) -> bool:
        return bool(self.flags)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (codes as plain strings) for storage and the page."""
        out = asdict(self)
        out["flags"] = [str(f) for f in self.flags]
        out["guidance"] = [str(g) for g in self.guidance]
        out["needs_retake"] = self.needs_retake
        return out


def to_working_size(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Reduce so the longest side is at most WORKING_LONG_SIDE; never enlarge."""
    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= WORKING_LONG_SIDE:
        return image
    scale = WORKING_LONG_SIDE / long_side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _gray(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    raise ValueError(f"expected a BGR or grayscale image, got shape {image.shape}")


def _check_image(image: npt.NDArray[Any]) -> None:
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got {image.dtype}")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")


def laplacian_variance(image: npt.NDArray[np.uint8]) -> float:
    """Variance of the 3x3 Laplacian of the grayscale working copy (raw)."""
    _check_image(image)
    gray = _gray(to_working_size(image))
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def sharpness(image: npt.NDArray[np.uint8]) -> float:
    """Laplacian variance of the working copy, brightness-normalised: as if the
    image's mean luma were SHARPNESS_REFERENCE_LUMA (see module docstring)."""
    _check_image(image)
    gray = _gray(to_working_size(image))
    return _normalised_sharpness(float(cv2.Laplacian(gray, cv2.CV_64F).var()), float(gray.mean()))


def _normalised_sharpness(lap_var: float, mean_luma: float) -> float:
    # Skin texture is reflectance x illumination, so its Laplacian scales with
    # brightness; the floor keeps a black frame from dividing by ~0.
    mean = max(mean_luma, SHARPNESS_MIN_MEAN_LUMA)
    return lap_var * (SHARPNESS_REFERENCE_LUMA / mean) ** 2


def exposure(image: npt.NDArray[np.uint8]) -> Exposure:
    _check_image(image)
    gray = _gray(to_working_size(image))
    n = gray.size
    return Exposure(
        mean_luminance=float(gray.mean()),
        highlight_clip_share=float(np.count_nonzero(gray >= HIGHLIGHT_LEVEL)) / n,
        shadow_clip_share=float(np.count_nonzero(gray <= SHADOW_LEVEL)) / n,
    )


def glare_share(
    image: npt.NDArray[np.uint8], thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> float:
    """Share of the frame covered by small specular (bright, colourless) spots."""
    _check_image(image)
    if image.ndim != 3:
        return 0.0  # no colour, no way to tell skin from a reflection
    work = to_working_size(image)
    hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
    mask = (
        (hsv[..., 2] > thresholds.glare_min_value) & (hsv[..., 1] < thresholds.glare_max_saturation)
    ).astype(np.uint8)
    total = mask.size
    if not mask.any():
        return 0.0
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:count, cv2.CC_STAT_AREA]  # label 0 is the background
    max_blob = thresholds.glare_max_blob_share * total
    return float(areas[areas <= max_blob].sum()) / total


def resolution_flags(
    width: int, height: int, thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> tuple[QualityFlag, ...]:
    long_side, short_side = max(width, height), min(width, height)
    if long_side < thresholds.minimum_long_side or short_side < thresholds.minimum_short_side:
        return (QualityFlag.BELOW_MINIMUM_RESOLUTION,)
    if long_side < thresholds.preferred_long_side or short_side < thresholds.preferred_short_side:
        return (QualityFlag.LOW_RESOLUTION,)
    return ()


def assess_photo(
    image: npt.NDArray[np.uint8], thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> PhotoQuality:
    """Score an upright BGR (or grayscale) image and derive flags and guidance."""
    _check_image(image)
    height, width = image.shape[:2]
    work = to_working_size(image)  # once; the scorers leave a working copy as is
    lap_var = laplacian_variance(work)
    expo = exposure(work)
    sharp = _normalised_sharpness(lap_var, expo.mean_luminance)
    glare = glare_share(work, thresholds)

    flags: list[QualityFlag] = []
    if sharp < thresholds.min_sharpness:
        flags.append(QualityFlag.BLURRY)
    if (
        expo.mean_luminance < thresholds.min_mean_luminance
        or expo.shadow_clip_share > thresholds.max_shadow_clip_share
    ):
        flags.append(QualityFlag.TOO_DARK)
    if (
        expo.mean_luminance > thresholds.max_mean_luminance
        or expo.highlight_clip_share > thresholds.max_highlight_clip_share
    ):
        flags.append(QualityFlag.OVEREXPOSED)
    if glare > thresholds.max_glare_share:
        flags.append(QualityFlag.GLARE)
    flags.extend(resolution_flags(width, height, thresholds))

    guidance: list[Guidance] = []
    for flag in flags:
        g = _GUIDANCE_FOR[flag]
        if g not in guidance:
            guidance.append(g)
    return PhotoQuality(
        width=width,
        height=height,
        sharpness=sharp,
        laplacian_variance=lap_var,
        mean_luminance=expo.mean_luminance,
        highlight_clip_share=expo.highlight_clip_share,
        shadow_clip_share=expo.shadow_clip_share,
        glare_share=glare,
        flags=tuple(flags),
        guidance=tuple(guidance),
    )


# ---------------------------------------------------------------------------
# Decoding uploads
# ---------------------------------------------------------------------------


class ImageRejected(ValueError):
    """Base of every reason an upload is refused; ``code`` is stable for the API."""

    code: ClassVar[str] = "image_rejected"


class NotAnImage(ImageRejected):
    code = "not_an_image"


class UnsupportedImageType(ImageRejected):
    code = "unsupported_image_type"


class MimeMismatch(ImageRejected):
    code = "mime_mismatch"


class ImageTooLarge(ImageRejected):
    code = "image_too_large"


class DecompressionBomb(ImageRejected):
    code = "decompression_bomb"


class TruncatedImage(ImageRejected):
    code = "truncated_image"


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    @property
    def mime(self) -> str:
        return _MIME_BY_FORMAT[self]


_MIME_BY_FORMAT = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.WEBP: "image/webp",
}
# Declared types that mean the same format (old IE sent image/pjpeg, some
# Android file pickers image/jpg).
_FORMAT_BY_MIME = {
    "image/jpeg": ImageFormat.JPEG,
    "image/jpg": ImageFormat.JPEG,
    "image/pjpeg": ImageFormat.JPEG,
    "image/png": ImageFormat.PNG,
    "image/x-png": ImageFormat.PNG,
    "image/webp": ImageFormat.WEBP,
}

# Formats we recognise but refuse, so the guardian gets "unsupported" rather
# than "not an image" (iPhones shoot HEIC; the page should send JPEG).
_OTHER_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


@dataclass(frozen=True)
class ImageHeader:
    """What the bytes declare, read without decoding pixels.  ``width`` and
    ``height`` are as stored; EXIF orientations 5-8 swap them when upright."""

    format: ImageFormat
    width: int
    height: int
    # True when the stored pixels went through lossy compression (JPEG, lossy
    # WebP); the DICOM export must say so (Lossy Image Compression, 0028,2110).
    lossy: bool
    # Offset just past the image's end marker (JPEG EOI, PNG IEND, RIFF end):
    # anything after it is appended data (motion photo, MPF) and is not image.
    end_offset: int
    exif_orientation: int = 1
    exif_has_gps: bool = False
    # JPEG only: the SOF marker (0xC0 baseline, 0xC2 progressive, ...), the
    # number of components and their sampling factors, and whether an Adobe
    # APP14 segment says the components are not YCbCr.  Used by the DICOM
    # export to decide whether the original JPEG can be encapsulated as is.
    jpeg_sof: int | None = None
    jpeg_precision: int | None = None
    jpeg_sampling: tuple[tuple[int, int], ...] = ()
    jpeg_adobe_transform: int | None = None
    jpeg_scan_offset: int | None = None  # where the first SOS marker starts
    animated: bool = False

    @property
    def mime(self) -> str:
        return self.format.mime

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) after the EXIF orientation is applied."""
        if self.exif_orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class DecodedImage:
    """An upright BGR image and the header it was decoded from."""

    image: BGRImage
    header: ImageHeader

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def sniff_format(data: bytes) -> ImageFormat:
    """Format from the magic bytes.  Raises NotAnImage / UnsupportedImageType."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    for magic, name in _OTHER_IMAGE_MAGIC:
        if data.startswith(magic):
            raise UnsupportedImageType(f"{name} images are not accepted; send JPEG, PNG or WebP")
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise UnsupportedImageType("HEIC/HEIF/AVIF images are not accepted; send JPEG, PNG or WebP")
    raise NotAnImage("the data is not a JPEG, PNG or WebP image")


def _check_declared_mime(fmt: ImageFormat, declared_mime: str | None) -> None:
    if declared_mime is None:
        return
    # "image/jpeg; charset=binary" and case variants appear in the wild.
    base = declared_mime.split(";", 1)[0].strip().lower()
    declared = _FORMAT_BY_MIME.get(base)
    if declared is not fmt:
        raise MimeMismatch(f"declared {declared_mime!r} but the data is {fmt.mime}")


def _parse_exif(tiff: bytes) -> tuple[int, bool]:
    """(orientation 1..8, has GPS IFD) from a TIFF-structured EXIF block.
    Malformed EXIF is ignored (orientation 1): it must not cost the photo."""
    try:
        if tiff[:2] == b"II":
            endian = "<"
        elif tiff[:2] == b"MM":
            endian = ">"
        else:
            return 1, False
        if struct.unpack_from(endian + "H", tiff, 2)[0] != 42:
            return 1, False
        ifd0 = struct.unpack_from(endian + "I", tiff, 4)[0]
        (count,) = struct.unpack_from(endian + "H", tiff, ifd0)
        orientation, has_gps = 1, False
        for i in range(min(count, 1000)):
            tag, typ, _n = struct.unpack_from(endian + "HHI", tiff, ifd0 + 2 + 12 * i)
            if tag == 0x0112 and typ == 3:  # Orientation, SHORT
                (value,) = struct.unpack_from(endian + "H", tiff, ifd0 + 2 + 12 * i + 8)
                orientation = value if 1 <= value <= 8 else 1
            elif tag == 0x8825:  # GPSInfo IFD pointer
                has_gps = True
        return orientation, has_gps
    except struct.error:
        return 1, False


# A marker in JPEG entropy-coded data: 0xFF followed by anything but a stuffed
# zero or a restart marker (RST0..RST7 live inside the scan).
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data: bytes) -> ImageHeader:
    n = len(data)
    pos = 2
    sof: tuple[int, int, int, int, tuple[tuple[int, int], ...]] | None = None
    orientation, has_gps, exif_seen = 1, False, False
    adobe: int | None = None
    seen_scan = False
    scan_offset: int | None = None
    while True:
        if pos >= n:
            raise TruncatedImage("JPEG ends before its EOI marker")
        if data[pos] != 0xFF:
            raise NotAnImage(f"JPEG structure broken at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= n:
            raise TruncatedImage("JPEG ends before its EOI marker")
        marker = data[pos]
        marker_offset = pos - 1
        pos += 1
        if marker == 0xD9:  # EOI
            if not seen_scan or sof is None:
                raise NotAnImage("JPEG has no image data")
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # standalone markers
        if pos + 2 > n:
            raise TruncatedImage("JPEG ends inside a segment header")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise NotAnImage("JPEG segment with an impossible length")
        end = pos + length
        if end > n:
            raise TruncatedImage("JPEG ends inside a segment")
        body = data[pos + 2 : end]
        if marker in _JPEG_SOF and sof is None:
            if len(body) < 6:
                raise NotAnImage("JPEG frame header too short")
            precision, height, width, ncomp = struct.unpack_from(">BHHB", body, 0)
            sampling = tuple(
                (body[6 + 3 * i + 1] >> 4, body[6 + 3 * i + 1] & 0x0F)
                for i in range(ncomp)
                if 6 + 3 * i + 2 < len(body)
            )
            sof = (marker, precision, width, height, sampling)
        elif marker == 0xE1 and not exif_seen and body.startswith(b"Exif\x00\x00"):
            exif_seen = True
            orientation, has_gps = _parse_exif(body[6:])
        elif marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
            adobe = body[11]
        pos = end
        if marker == 0xDA:  # SOS: skip the entropy-coded data to the next marker
            if sof is None:
                raise NotAnImage("JPEG scan before its frame header")
            seen_scan = True
            if scan_offset is None:
                scan_offset = marker_offset
            match = _JPEG_SCAN_END.search(data, pos)
            if match is None:
                raise TruncatedImage("JPEG ends inside the image data (no EOI marker)")
            pos = match.start()
    assert sof is not None
    marker, precision, width, height, sampling = sof
    if height == 0 or width == 0:
        # Height 0 means "given later by a DNL marker": legal, but nobody
        # sends it and it defeats the size check.
        raise UnsupportedImageType("JPEG without declared dimensions")
    return ImageHeader(
        format=ImageFormat.JPEG,
        width=width,
        height=height,
        lossy=True,
        end_offset=pos,
        jpeg_scan_offset=scan_offset,
        exif_orientation=orientation,
        exif_has_gps=has_gps,
        jpeg_sof=marker,
        jpeg_precision=precision,
        jpeg_sampling=sampling,
        jpeg_adobe_transform=adobe,
    )


def _png_header(data: bytes) -> ImageHeader:
    n = len(data)
    pos = 8
    width = height = 0
    orientation, has_gps = 1, False
    seen_idat = animated = False
    first = True
    while True:
        if pos + 8 > n:
            raise TruncatedImage("PNG ends before its IEND chunk")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length + 4
        if length > 0x7FFFFFFF:
            raise NotAnImage("PNG chunk with an impossible length")
        if end > n:
            raise TruncatedImage("PNG ends inside a chunk")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(ctype + body) != crc:
            raise NotAnImage(f"PNG chunk {ctype!r} is corrupt (CRC mismatch)")
        if first:
            if ctype != b"IHDR" or length != 13:
                raise NotAnImage("PNG does not start with IHDR")
            width, height = struct.unpack_from(">II", body, 0)
            if width == 0 or height == 0:
                raise NotAnImage("PNG with zero width or height")
            first = False
        elif ctype == b"IDAT":
            seen_idat = True
        elif ctype == b"acTL":
            animated = True
        elif ctype == b"eXIf":
            orientation, has_gps = _parse_exif(body)
        elif ctype == b"IEND":
            pos = end
            break
        pos = end
    if not seen_idat:
        raise NotAnImage("PNG has no image data")
    return ImageHeader(
        format=ImageFormat.PNG,
        width=width,
        height=height,
        lossy=False,
        end_offset=pos,
        exif_orientation=orientation,
        exif_has_gps=has_gps,
        animated=animated,
    )


def _webp_frame_size(fourcc: bytes, body: bytes) -> tuple[int, int]:
    if fourcc == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
            raise NotAnImage("WebP VP8 frame without a key frame start code")
        w, h = struct.unpack_from("<HH", body, 6)
        return w & 0x3FFF, h & 0x3FFF
    # VP8L
    if len(body) < 5 or body[0] != 0x2F:
        raise NotAnImage("WebP VP8L frame without its signature")
    (bits,) = struct.unpack_from("<I", body, 1)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _webp_header(data: bytes) -> ImageHeader:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end_of_riff = 8 + riff_size
    if end_of_riff > len(data):
        raise TruncatedImage("WebP shorter than its RIFF header declares")
    pos = 12
    canvas: tuple[int, int] | None = None
    frame: tuple[int, int] | None = None
    lossy = False
    orientation, has_gps = 1, False
    animated = False
    while pos + 8 <= end_of_riff:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        body_end = pos + 8 + size
        if body_end > end_of_riff:
            raise TruncatedImage(f"WebP ends inside its {fourcc!r} chunk")
        body = data[pos + 8 : body_end]
        if fourcc == b"VP8X":
            if len(body) < 10:
                raise NotAnImage("WebP VP8X chunk too short")
            animated = bool(body[0] & 0x02)
            w = 1 + int.from_bytes(body[4:7], "little")
            h = 1 + int.from_bytes(body[7:10], "little")
            canvas = (w, h)
        elif fourcc in (b"VP8 ", b"VP8L") and frame is None:
            frame = _webp_frame_size(fourcc, body)
            lossy = fourcc == b"VP8 "  # VP8L is the lossless coding
        elif fourcc == b"EXIF":
            # Some writers keep JPEG's "Exif\0\0" prefix inside the chunk.
            tiff = body[6:] if body.startswith(b"Exif\x00\x00") else body
            orientation, has_gps = _parse_exif(tiff)
        elif fourcc == b"ANMF":
            animated = True
        pos = body_end + (size & 1)  # chunks are padded to an even length
    if frame is None and not animated:
        raise NotAnImage("WebP has no image data")
    w, h = canvas or frame or (0, 0)
    if frame is not None:
        # Bound the allocation by the larger of the declarations.
        w, h = max(w, frame[0]), max(h, frame[1])
    if w == 0 or h == 0:
        raise NotAnImage("WebP with zero width or height")
    return ImageHeader(
        format=ImageFormat.WEBP,
        width=w,
        height=h,
        lossy=lossy,
        end_offset=end_of_riff,
        exif_orientation=orientation,
        exif_has_gps=has_gps,
        animated=animated,
    )


def read_image_header(
    data: bytes, *, declared_mime: str | None = None, max_bytes: int | None = None
) -> ImageHeader:
    """Sniff, check the declared MIME type and walk the structure to its end
    marker, without decoding pixels.  Raises an ImageRejected subclass."""
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes is over the limit of {max_bytes}")
    fmt = sniff_format(data)
    _check_declared_mime(fmt, declared_mime)
    try:
        if fmt is ImageFormat.JPEG:
            header = _jpeg_header(data)
        elif fmt is ImageFormat.PNG:
            header = _png_header(data)
        else:
            header = _webp_header(data)
    except struct.error as exc:  # a fixed-size field ran past the end
        raise TruncatedImage(f"{fmt.mime} ends inside a header field") from exc
    if header.animated:
        raise UnsupportedImageType("animated images are not accepted; send a still photo")
    return header


# numpy/OpenCV equivalents of the eight EXIF orientations: the transform that
# turns the stored pixels into the upright picture (TIFF 6.0, tag 274).
def apply_exif_orientation(image: BGRImage, orientation: int) -> BGRImage:
    if orientation == 2:
        out = cv2.flip(image, 1)
    elif orientation == 3:
        out = cv2.rotate(image, cv2.ROTATE_180)
    elif orientation == 4:
        out = cv2.flip(image, 0)
    elif orientation == 5:
        out = cv2.transpose(image)
    elif orientation == 6:
        out = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    elif orientation == 7:
        out = cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    elif orientation == 8:
        out = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    else:
        return image
    return np.ascontiguousarray(out, dtype=np.uint8)


def decode_image_info(
    data: bytes, *, declared_mime: str | None = None, max_pixels: int, max_bytes: int
) -> DecodedImage:
    """Validate and decode an upload into an upright BGR image.

    ``declared_mime`` is what the client said (Content-Type of the part); None
    skips that comparison.  Checks, in order: ``ImageTooLarge`` (bytes),
    ``NotAnImage`` / ``UnsupportedImageType`` (magic bytes), ``MimeMismatch``,
    ``TruncatedImage`` / ``NotAnImage`` (structure), ``DecompressionBomb``
    (declared width x height over ``max_pixels``), then the pixel decode.
    """
    header = read_image_header(data, declared_mime=declared_mime, max_bytes=max_bytes)
    if header.pixels > max_pixels:
        raise DecompressionBomb(
            f"{header.width}x{header.height} = {header.pixels} pixels is over the limit "
            f"of {max_pixels}"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR: 3-channel 8-bit BGR whatever is stored (grey, alpha and
    # 16-bit PNG are converted); orientation is ours to apply, see docstring.
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None:
        raise NotAnImage(f"the {header.mime} data could not be decoded")
    if decoded.shape[:2] != (header.height, header.width):
        raise NotAnImage(
            f"decoded {decoded.shape[1]}x{decoded.shape[0]} but the header declares "
            f"{header.width}x{header.height}"
        )
    upright = apply_exif_orientation(np.asarray(decoded, dtype=np.uint8), header.exif_orientation)
    return DecodedImage(image=upright, header=header)


def decode_image(
    data: bytes, *, declared_mime: str | None = None, max_pixels: int, max_bytes: int
) -> BGRImage:
    """``decode_image_info(...).image``: the upright BGR pixels only."""
    return decode_image_info(
        data, declared_mime=declared_mime, max_pixels=max_pixels, max_bytes=max_bytes
    ).image

"""Photo quality scores on synthetic skin, and the refusals of decode_image."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from server.photos import photo_quality as pq
from server.photos.photo_quality import (
    DEFAULT_THRESHOLDS,
    DecompressionBomb,
    Guidance,
    ImageFormat,
    ImageTooLarge,
    MimeMismatch,
    NotAnImage,
    QualityFlag,
    QualityThresholds,
    TruncatedImage,
    UnsupportedImageType,
    assess_photo,
    decode_image,
    decode_image_info,
    read_image_header,
    resolution_flags,
    sharpness,
)

Image = npt.NDArray[np.uint8]
LIMITS: dict[str, Any] = {"max_pixels": 40_000_000, "max_bytes": 20_000_000}

LIGHT = (150.0, 170.0, 220.0)  # BGR, the calibration's tones
MEDIUM = (95.0, 125.0, 175.0)
DARK = (45.0, 65.0, 100.0)


# --- synthetic skin (the calibration script's scene, compact) ----------------


def _octaves(h: int, w: int, rng: np.random.Generator, cells: list[int]) -> npt.NDArray[np.float32]:
    out = np.zeros((h, w), np.float32)
    for cell in cells:
        gh, gw = h // cell + 3, w // cell + 3
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]
    return out / out.std()


def _render(
    w: int, h: int, seed: int = 5
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(shade, lesion mask) of a skin scene; features scale with the width."""
    rng = np.random.default_rng(seed)
    s = w / 3000.0
    noise = _octaves(
        h, w, rng, [max(1, round(c * s)) for c in (2, 4, 8, 16, 32, 64, 128, 256, 512)]
    )
    creases = np.exp(
        -((_octaves(h, w, rng, [max(1, round(24 * s)), max(1, round(48 * s))]) / 0.12) ** 2)
    )
    shade = 1 + 0.06 * noise - 0.12 * creases
    mask = np.zeros((h, w), np.float32)
    for _ in range(6):
        centre = (int(rng.uniform(0.15, 0.85) * w), int(rng.uniform(0.15, 0.85) * h))
        axes = (int(rng.uniform(0.01, 0.05) * w), int(rng.uniform(0.01, 0.05) * w))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    return shade, np.asarray(cv2.GaussianBlur(mask, (0, 0), 0.0012 * w), np.float32)


def _colour(
    scene: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]], tone: tuple[float, float, float]
) -> Image:
    shade, mask = scene
    t = np.asarray(tone, np.float32)
    skin = t * shade[..., None]
    lesion = t * np.array([0.55, 0.5, 0.75], np.float32) * shade[..., None]
    m = mask[..., None]
    return np.clip(skin * (1 - m) + lesion * m, 0, 255).astype(np.uint8)


def _blur(img: Image, sigma: float) -> Image:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.uint8)


def _reduce(img: Image, w: int, h: int) -> Image:
    return np.asarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _expose(img: Image, stops: float) -> Image:
    linear = (img.astype(np.float32) / 255.0) ** 2.2 * 2.0**stops
    return (np.clip(linear, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def _specular(img: Image, share: float) -> Image:
    """Colourless white spots (radius 0.6 % of the width) covering `share`."""
    out = img.copy()
    h, w = img.shape[:2]
    r = max(2, round(0.006 * w))
    rng = np.random.default_rng(3)
    for _ in range(max(1, round(share * h * w / (np.pi * r * r)))):
        cv2.circle(
            out,
            (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.9) * h)),
            r,
            (252, 252, 252),
            -1,
        )
    return out


@pytest.fixture(scope="module")
def scene_hi() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    return _render(2048, 1536)


@pytest.fixture(scope="module")
def photo(scene_hi) -> Image:
    """A well-exposed, in-focus 1024x768 photo of medium-tone skin."""
    return _reduce(_colour(scene_hi, MEDIUM), 1024, 768)


# --- sharpness ---------------------------------------------------------------


def test_in_focus_photo_has_no_flags(photo: Image) -> None:
    q = assess_photo(photo)
    assert q.sharpness > DEFAULT_THRESHOLDS.min_sharpness
    assert q.flags == () and q.guidance == () and not q.needs_retake


@pytest.mark.parametrize("sigma", [1.5, 2.0, 4.0])
def test_gaussian_blur_is_flagged_blurry_with_hold_still(photo: Image, sigma: float) -> None:
    q = assess_photo(_blur(photo, sigma))
    assert q.sharpness < DEFAULT_THRESHOLDS.min_sharpness
    assert QualityFlag.BLURRY in q.flags
    assert Guidance.HOLD_STILL in q.guidance


def test_slight_blur_still_passes(photo: Image) -> None:
    assert sharpness(_blur(photo, 0.5)) > DEFAULT_THRESHOLDS.min_sharpness


def test_motion_blur_is_flagged(photo: Image) -> None:
    kernel = np.full((1, 15), 1 / 15, np.float32)
    motion = np.asarray(cv2.filter2D(photo, -1, kernel), np.uint8)
    assert QualityFlag.BLURRY in assess_photo(motion).flags


def test_dark_skin_in_focus_is_not_called_blurry(scene_hi) -> None:
    dark = _reduce(_colour(scene_hi, DARK), 1024, 768)
    q = assess_photo(dark)
    # The raw Laplacian variance of dark skin is far below a light-skin
    # photo's; the brightness normalisation is what keeps it from "blurry".
    assert (
        q.laplacian_variance
        < assess_photo(_reduce(_colour(scene_hi, LIGHT), 1024, 768)).laplacian_variance / 3
    )
    assert QualityFlag.BLURRY not in q.flags
    assert QualityFlag.TOO_DARK not in q.flags


def test_same_scene_at_two_resolutions_scores_similarly(scene_hi) -> None:
    still = _colour(scene_hi, MEDIUM)  # 2048x1536 phone still
    frame = _reduce(still, 640, 480)  # the same scene through a 640x480 camera
    a, b = sharpness(still), sharpness(frame)
    assert 1 / 1.5 < a / b < 1.5, (a, b)
    # and blurring either by the same amount in working pixels flags both
    blurred_still = _blur(still, 2.0 * 2048 / 1024)
    blurred_frame = _blur(frame, 2.0)
    assert sharpness(blurred_still) < DEFAULT_THRESHOLDS.min_sharpness
    assert sharpness(blurred_frame) < DEFAULT_THRESHOLDS.min_sharpness


def test_working_copy_is_only_ever_reduced() -> None:
    small = np.zeros((480, 640, 3), np.uint8)
    assert pq.to_working_size(small) is small
    big = np.zeros((3000, 4000, 3), np.uint8)
    assert pq.to_working_size(big).shape == (768, 1024, 3)


# --- exposure and glare --------------------------------------------------------


def test_underexposed_photo_is_too_dark_with_more_light(photo: Image) -> None:
    q = assess_photo(_expose(photo, -4))
    assert q.mean_luminance < DEFAULT_THRESHOLDS.min_mean_luminance
    assert QualityFlag.TOO_DARK in q.flags and Guidance.MORE_LIGHT in q.guidance


def test_crushed_shadows_are_too_dark(photo: Image) -> None:
    img = photo.copy()
    img[: img.shape[0] // 2] = 0  # half the frame black: a dark room
    q = assess_photo(img)
    assert q.shadow_clip_share > 0.45
    assert QualityFlag.TOO_DARK in q.flags


def test_blown_out_photo_is_overexposed_with_less_light(scene_hi) -> None:
    light = _reduce(_colour(scene_hi, LIGHT), 1024, 768)
    q = assess_photo(_expose(light, 2))
    assert q.highlight_clip_share > DEFAULT_THRESHOLDS.max_highlight_clip_share
    assert QualityFlag.OVEREXPOSED in q.flags and Guidance.LESS_LIGHT in q.guidance


@pytest.mark.parametrize("stops", [-1.0, 0.5, 1.0])
def test_within_a_stop_medium_skin_has_no_exposure_flag(photo: Image, stops: float) -> None:
    flags = assess_photo(_expose(photo, stops)).flags
    assert QualityFlag.TOO_DARK not in flags and QualityFlag.OVEREXPOSED not in flags


def test_specular_spot_is_glare_with_avoid_glare(photo: Image) -> None:
    q = assess_photo(_specular(photo, 0.01))
    assert q.glare_share > DEFAULT_THRESHOLDS.max_glare_share
    assert QualityFlag.GLARE in q.flags and Guidance.AVOID_GLARE in q.guidance
    assert QualityFlag.OVEREXPOSED not in q.flags


def test_large_white_sheet_is_not_glare(photo: Image) -> None:
    img = photo.copy()
    img[-img.shape[0] // 3 :] = (250, 252, 253)
    q = assess_photo(img)
    assert q.glare_share == 0.0
    assert QualityFlag.GLARE not in q.flags


# --- resolution ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w", "h", "expected"),
    [
        (1024, 768, ()),
        (768, 1024, ()),  # portrait
        (4000, 3000, ()),
        (1023, 768, (QualityFlag.LOW_RESOLUTION,)),
        (800, 600, (QualityFlag.LOW_RESOLUTION,)),
        (600, 800, (QualityFlag.LOW_RESOLUTION,)),
        (799, 600, (QualityFlag.BELOW_MINIMUM_RESOLUTION,)),
        (800, 599, (QualityFlag.BELOW_MINIMUM_RESOLUTION,)),
        (640, 480, (QualityFlag.BELOW_MINIMUM_RESOLUTION,)),
    ],
)
def test_resolution_flags(w: int, h: int, expected: tuple[QualityFlag, ...]) -> None:
    assert resolution_flags(w, h) == expected


def test_video_frame_is_below_minimum_with_move_closer(scene_hi) -> None:
    q = assess_photo(_reduce(_colour(scene_hi, MEDIUM), 640, 480))
    assert q.flags == (QualityFlag.BELOW_MINIMUM_RESOLUTION,)
    assert q.guidance == (Guidance.MOVE_CLOSER,)


def test_guidance_is_not_repeated(photo: Image) -> None:
    q = assess_photo(_blur(_reduce(photo, 640, 480), 3))
    assert len(q.guidance) == len(set(q.guidance))


# --- thresholds and output ---------------------------------------------------------


def test_thresholds_come_from_configuration(photo: Image) -> None:
    strict = QualityThresholds.from_mapping({"min_sharpness": 1e9})
    assert QualityFlag.BLURRY in assess_photo(photo, strict).flags
    assert replace(DEFAULT_THRESHOLDS, min_sharpness=1e9) == strict
    with pytest.raises(ValueError, match="min_sharpnes"):
        QualityThresholds.from_mapping({"min_sharpnes": 3})


def test_as_dict_is_json_with_plain_codes(photo: Image) -> None:
    d = assess_photo(_reduce(photo, 640, 480)).as_dict()
    assert json.loads(json.dumps(d))["flags"] == ["below_minimum_resolution"]
    assert d["needs_retake"] is True


def test_rejects_non_8bit_arrays() -> None:
    with pytest.raises(ValueError):
        assess_photo(np.zeros((10, 10, 3), np.float32))


# --- decoding: helpers ---------------------------------------------------------------


def _test_image(w: int = 120, h: int = 80) -> Image:
    """Asymmetric, so every rotation and flip is distinguishable."""
    img = np.full((h, w, 3), 128, np.uint8)
    img[: h // 3, : w // 4] = (0, 0, 255)
    img[-h // 4 :, -w // 3 :] = (255, 0, 0)
    img[h // 2, :] = (0, 255, 0)
    return img


def _encode(img: npt.NDArray[Any], ext: str, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def _tiff(orientation: int, gps: bool = False, endian: str = "<") -> bytes:
    """A minimal EXIF (TIFF) block: IFD0 with Orientation, optionally a GPS IFD."""
    entries = [struct.pack(endian + "HHIHH", 0x0112, 3, 1, orientation, 0)]
    if gps:
        gps_offset = 8 + 2 + 12 * 2 + 4
        entries.append(struct.pack(endian + "HHII", 0x8825, 4, 1, gps_offset))
    head = (b"II*\x00" if endian == "<" else b"MM\x00*") + struct.pack(endian + "I", 8)
    ifd = struct.pack(endian + "H", len(entries)) + b"".join(entries) + struct.pack(endian + "I", 0)
    gps_ifd = struct.pack(endian + "HI", 0, 0) if gps else b""
    return head + ifd + gps_ifd


def _with_exif(jpeg: bytes, tiff: bytes) -> bytes:
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


# --- decoding: refusals ----------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello, world", b"%PDF-1.7\n...", bytes(100)])
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        decode_image(data, **LIMITS)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(20),
        b"BM" + bytes(40),
        b"\x00\x00\x00\x18ftypheic" + bytes(20),  # an iPhone HEIC
    ],
)
def test_other_image_types_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImageType):
        decode_image(data, **LIMITS)


def test_magic_bytes_decide_and_a_wrong_declared_type_is_refused() -> None:
    png = _encode(_test_image(), ".png")
    with pytest.raises(MimeMismatch):
        decode_image(png, declared_mime="image/jpeg", **LIMITS)
    with pytest.raises(MimeMismatch):
        decode_image(png, declared_mime="application/octet-stream", **LIMITS)
    assert decode_image(png, declared_mime="image/png", **LIMITS).shape == (80, 120, 3)
    jpeg = _encode(_test_image(), ".jpg")
    for alias in ("image/jpeg", "image/jpg", "IMAGE/JPEG; charset=binary"):
        decode_image(jpeg, declared_mime=alias, **LIMITS)


def test_too_many_bytes_is_refused_before_anything_else() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(b"x" * 101, max_pixels=10**6, max_bytes=100)


def test_truncated_jpeg_is_refused_from_its_structure(no_pixel_decoding: None) -> None:
    # OpenCV 4.x's libjpeg fills a cut JPEG with grey and returns it; 5.0 gives
    # None.  The structure walk answers the same under both, before decoding.
    noise = np.random.default_rng(1).integers(0, 255, (300, 400, 3), np.uint8)
    for progressive in (0, 1):
        jpeg = _encode(_blur(noise, 2), ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, progressive)
        for cut in (jpeg[: len(jpeg) * 6 // 10], jpeg[:-2]):  # mid-scan; only EOI missing
            with pytest.raises(TruncatedImage):
                decode_image(cut, **LIMITS)


def test_bytes_after_the_jpeg_end_are_accepted() -> None:
    # Motion photos and MPF images append data after the primary image's EOI.
    jpeg = _encode(_test_image(), ".jpg")
    assert decode_image(jpeg + b"\x00\x00\x00\x18ftypmp42" + bytes(64), **LIMITS).shape == (
        80,
        120,
        3,
    )


def test_truncated_and_corrupt_png_are_refused() -> None:
    png = _encode(_test_image(), ".png")
    with pytest.raises(TruncatedImage):
        decode_image(png[: len(png) // 2], **LIMITS)
    with pytest.raises(TruncatedImage):
        decode_image(png[:-12], **LIMITS)  # IEND missing
    corrupt = bytearray(png)
    corrupt[60] ^= 0xFF  # inside IDAT
    with pytest.raises(NotAnImage):
        decode_image(bytes(corrupt), **LIMITS)


def test_truncated_webp_is_refused() -> None:
    webp = _encode(_test_image(), ".webp", cv2.IMWRITE_WEBP_QUALITY, 90)
    with pytest.raises(TruncatedImage):
        decode_image(webp[: len(webp) - 10], **LIMITS)


def _png_bomb(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(pq.cv2, "imdecode", refuse)


def test_png_declaring_50000x50000_is_a_bomb_caught_from_the_header(
    no_pixel_decoding: None,
) -> None:
    bomb = _png_bomb(50_000, 50_000)
    assert len(bomb) < 200
    with pytest.raises(DecompressionBomb):
        decode_image(bomb, **LIMITS)


def test_jpeg_declaring_huge_dimensions_is_a_bomb(no_pixel_decoding: None) -> None:
    jpeg = bytearray(_encode(_test_image(), ".jpg"))
    sof = jpeg.index(b"\xff\xc0")
    struct.pack_into(">HH", jpeg, sof + 5, 40_000, 40_000)  # height, width
    with pytest.raises(DecompressionBomb):
        decode_image(bytes(jpeg), **LIMITS)


def test_webp_declaring_huge_canvas_is_a_bomb(no_pixel_decoding: None) -> None:
    webp = _encode(_test_image(), ".webp", cv2.IMWRITE_WEBP_QUALITY, 90)
    vp8 = webp[12:]
    vp8x = (
        b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (15_999).to_bytes(3, "little") * 2
    )
    body = b"WEBP" + vp8x + vp8
    with pytest.raises(DecompressionBomb):
        decode_image(b"RIFF" + struct.pack("<I", len(body)) + body, **LIMITS)


# --- decoding: what comes out --------------------------------------------------------------


@pytest.mark.parametrize(("ext", "fmt"), [(".png", ImageFormat.PNG), (".webp", ImageFormat.WEBP)])
def test_lossless_formats_round_trip(ext: str, fmt: ImageFormat) -> None:
    img = _test_image()
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []  # >100: lossless WebP
    out = decode_image_info(_encode(img, ext, *params), declared_mime=fmt.mime, **LIMITS)
    assert out.header.format is fmt
    assert np.array_equal(out.image, img)


def test_header_says_whether_the_pixels_were_lossily_coded() -> None:
    img = _test_image()
    lossy = read_image_header(_encode(img, ".webp", cv2.IMWRITE_WEBP_QUALITY, 80))
    lossless = read_image_header(_encode(img, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101))
    assert lossy.lossy and not lossless.lossy
    assert read_image_header(_encode(img, ".jpg")).lossy
    assert not read_image_header(_encode(img, ".png")).lossy


def test_jpeg_header_is_read_without_decoding() -> None:
    header = read_image_header(_encode(_test_image(), ".jpg"))
    assert (header.format, header.width, header.height) == (ImageFormat.JPEG, 120, 80)
    assert header.jpeg_sof == 0xC0 and header.jpeg_precision == 8
    assert len(header.jpeg_sampling) == 3


def test_grey_alpha_and_16_bit_pngs_come_out_as_8_bit_bgr() -> None:
    grey = np.arange(80 * 120, dtype=np.uint16).reshape(80, 120)
    for arr in (
        grey.astype(np.uint8),
        (grey * 7).astype(np.uint16),
        np.dstack([_test_image(), np.full((80, 120), 200, np.uint8)]),
    ):
        out = decode_image(_encode(arr, ".png"), **LIMITS)
        assert out.shape == (80, 120, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_orientation_is_applied_as_opencv_does(orientation: int, endian: str) -> None:
    data = _with_exif(
        _encode(_test_image(), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95),
        _tiff(orientation, endian=endian),
    )
    out = decode_image_info(data, **LIMITS)
    assert out.header.exif_orientation == orientation
    # OpenCV's own EXIF handling (default flags) is the independent reference.
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert reference is not None
    assert np.array_equal(out.image, reference)
    assert (out.width, out.height) == out.header.upright_size
    if orientation >= 5:
        assert (out.width, out.height) == (80, 120)


def test_png_exif_chunk_orientation_is_applied() -> None:
    png = _encode(_test_image(), ".png")
    iend = png.rindex(b"IEND") - 4
    rotated = png[:iend] + _png_chunk(b"eXIf", _tiff(6)) + png[iend:]
    out = decode_image(rotated, **LIMITS)
    assert np.array_equal(out, cv2.rotate(_test_image(), cv2.ROTATE_90_CLOCKWISE))


def test_gps_in_exif_is_noticed() -> None:
    jpeg = _encode(_test_image(), ".jpg")
    assert read_image_header(_with_exif(jpeg, _tiff(1, gps=True))).exif_has_gps
    assert not read_image_header(_with_exif(jpeg, _tiff(1))).exif_has_gps


def test_malformed_exif_does_not_cost_the_photo() -> None:
    jpeg = _encode(_test_image(), ".jpg")
    out = decode_image_info(_with_exif(jpeg, b"II*\x00\xff\xff\xff\x7f"), **LIMITS)
    assert out.header.exif_orientation == 1 and out.image.shape == (80, 120, 3)

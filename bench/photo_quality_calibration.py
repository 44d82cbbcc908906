"""Calibrate the default thresholds of server.photos.photo_quality on synthetic skin.

    python bench/photo_quality_calibration.py            # the table in the docstring
    python bench/photo_quality_calibration.py --images DIR   # score real photos too

Synthetic scenes stand in for photos until the pilot has labelled ones: a skin
tone modulated by band-limited noise with equal energy per octave (the 1/f
amplitude spectrum of natural images), a network of fine creases and six
lesion-like blobs.  Each scene is rendered at 3000x2250 (a phone still) and
reduced to 640x480 (a video frame of the same scene), then degraded: Gaussian
and motion blur given in working-copy pixels, exposure changes in stops (in
linear light), specular spots, a white sheet.  The printed min..max over the
seeds is what the thresholds in QualityThresholds are set between.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.photos.photo_quality import (  # path set up above
    DEFAULT_THRESHOLDS,
    WORKING_LONG_SIDE,
    assess_photo,
    decode_image,
    exposure,
    glare_share,
    laplacian_variance,
    sharpness,
)

Image = npt.NDArray[np.uint8]

TONES: dict[str, tuple[float, float, float]] = {  # BGR
    "light": (150.0, 170.0, 220.0),
    "medium": (95.0, 125.0, 175.0),
    "dark": (45.0, 65.0, 100.0),
}
FULL = (3000, 2250)
FRAME = (640, 480)
SEEDS = (1, 2, 3)


def octave_noise(
    h: int, w: int, rng: np.random.Generator, cells: Iterable[int]
) -> npt.NDArray[np.float32]:
    """Sum of bicubically interpolated random grids, one per octave, with equal
    amplitude: equal energy per octave, i.e. a 1/f amplitude spectrum."""
    out = np.zeros((h, w), np.float32)
    for cell in cells:
        gh, gw = h // cell + 3, w // cell + 3
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]
    return out / out.std()


def skin_scene(
    w: int, h: int, tone: tuple[float, float, float], seed: int, texture: float = 1.0
) -> Image:
    """A skin-like scene; features are sized relative to a 3000 px width so the
    same seed gives the same scene at any rendering size."""
    rng = np.random.default_rng(seed)
    s = w / 3000.0
    cells = [max(1, round(c * s)) for c in (2, 4, 8, 16, 32, 64, 128, 256, 512)]
    noise = octave_noise(h, w, rng, cells)
    crease_field = octave_noise(h, w, rng, [max(1, round(c * s)) for c in (24, 48)])
    creases = np.exp(-((crease_field / 0.12) ** 2))
    shade = 1 + texture * (0.06 * noise - 0.12 * creases)
    tone_arr = np.asarray(tone, np.float32)
    img = tone_arr[None, None, :] * shade[..., None]
    lesion_colour = tone_arr * np.array([0.55, 0.5, 0.75], np.float32)
    for _ in range(6):
        cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
        ry, rx = rng.uniform(0.01, 0.05) * w, rng.uniform(0.01, 0.05) * w
        y0, y1 = int(max(0, cy - ry - 0.01 * w)), int(min(h, cy + ry + 0.01 * w))
        x0, x1 = int(max(0, cx - rx - 0.01 * w)), int(min(w, cx + rx + 0.01 * w))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        mask = ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).astype(np.float32)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.0012 * w)[..., None]
        patch = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = patch * (1 - mask) + lesion_colour * shade[y0:y1, x0:x1, None] * mask
    return np.clip(img, 0, 255).astype(np.uint8)


def working_scale(img: Image) -> float:
    """Native pixels per working-copy pixel."""
    return max(1.0, max(img.shape[:2]) / WORKING_LONG_SIDE)


def gaussian(sigma_working: float) -> Callable[[Image], Image]:
    def apply(img: Image) -> Image:
        if sigma_working == 0:
            return img
        sigma = sigma_working * working_scale(img)
        return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.uint8)

    return apply


def motion(length_working: int) -> Callable[[Image], Image]:
    def apply(img: Image) -> Image:
        n = max(1, round(length_working * working_scale(img)))
        kernel = np.full((1, n), 1.0 / n, np.float32)
        return np.asarray(cv2.filter2D(img, -1, kernel), dtype=np.uint8)

    return apply


def with_noise(
    inner: Callable[[Image], Image], sigma: float, seed: int = 7
) -> Callable[[Image], Image]:
    def apply(img: Image) -> Image:
        out = inner(img).astype(np.float32)
        out += np.random.default_rng(seed).normal(0, sigma, out.shape).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)

    return apply


def expose(img: Image, stops: float) -> Image:
    """Exposure change in linear light (sRGB approximated by gamma 2.2), clipped."""
    linear = (img.astype(np.float32) / 255.0) ** 2.2 * (2.0**stops)
    return (np.clip(linear, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def add_specular(img: Image, share: float, seed: int = 11) -> Image:
    """White, colourless spots with a soft rim, their cores covering `share`."""
    if share == 0:
        return img
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    out = img.astype(np.float32)
    r = 0.006 * w
    count = max(1, round(share * h * w / (np.pi * r * r)))
    for _ in range(count):
        cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        y0, y1 = int(max(0, cy - 2 * r)), int(min(h, cy + 2 * r))
        x0, x1 = int(max(0, cx - 2 * r)), int(min(w, cx + 2 * r))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        weight = np.clip((2 * r - d) / r, 0, 1)[..., None]  # 1 inside r, fading to 2r
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - weight) + 252.0 * weight
    return np.clip(out, 0, 255).astype(np.uint8)


def add_sheet(img: Image, share: float) -> Image:
    """A white sheet along the bottom edge covering `share` of the frame."""
    out = img.copy()
    h = img.shape[0]
    out[h - round(share * h) :, :] = (246, 248, 250)
    return out


def spread(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    fmt = "{:.0f}" if hi >= 20 else "{:.1f}"
    return f"{fmt.format(lo)}..{fmt.format(hi)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, help="also score the images in this folder")
    args = parser.parse_args()

    scenes: dict[str, list[Image]] = {}
    frames: dict[str, list[Image]] = {}
    for tone_name, tone in TONES.items():
        scenes[tone_name] = [skin_scene(*FULL, tone, seed) for seed in SEEDS]
        frames[tone_name] = [
            np.asarray(cv2.resize(s, FRAME, interpolation=cv2.INTER_AREA), dtype=np.uint8)
            for s in scenes[tone_name]
        ]

    low_texture = [skin_scene(*FULL, TONES["medium"], seed, texture=0.5) for seed in SEEDS]

    blurs: list[tuple[str, Callable[[Image], Image], bool]] = []
    for sigma in (0, 0.5, 1, 1.5, 2, 3, 4):
        name = "none" if sigma == 0 else f"gauss {sigma:g} px"
        blurs.append((name, gaussian(sigma), True))
    for length in (3, 5, 9, 15):
        blurs.append((f"motion {length} px", motion(length), False))
    blurs.append(("none + noise 3", with_noise(gaussian(0), 3.0), False))
    blurs.append(("gauss 2 px + noise 3", with_noise(gaussian(2), 3.0), False))

    for title, score in (
        ("sharpness (brightness-normalised Laplacian variance: the flagged score)", sharpness),
        ("raw Laplacian variance (for comparison: scales with brightness)", laplacian_variance),
    ):
        print(title + "; '*' = 640x480 capture of the same scene")
        header = "".join(f"{t:>13}" for t in TONES)
        print(f"{'blur':<22}{header}{'medium, half texture':>22}")
        for name, blur, also_frame in blurs:
            row = f"{name:<22}"
            for tone_name in TONES:
                row += f"{spread([score(blur(s)) for s in scenes[tone_name]]):>13}"
            row += f"{spread([score(blur(s)) for s in low_texture]):>22}"
            print(row)
            if also_frame:
                row = f"{name + '*':<22}"
                for tone_name in TONES:
                    row += f"{spread([score(blur(f)) for f in frames[tone_name]]):>13}"
                print(row)
        print()
    print()
    print("exposure: mean luma / highlights>=250 / shadows<=5 (seed 1, 3000x2250)")
    print(f"{'stops':<8}" + "".join(f"{t:>24}" for t in TONES))
    for stops in (-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5):
        row = f"{stops:<+8g}"
        for tone_name in TONES:
            e = exposure(expose(scenes[tone_name][0], stops))
            row += f"{e.mean_luminance:>10.0f} {e.highlight_clip_share:>6.3f}"
            row += f" {e.shadow_clip_share:>6.3f}"
        print(row)

    print()
    print("glare share (3000x2250, seed 1)")
    base = scenes["medium"][0]
    for share in (0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02):
        g = glare_share(add_specular(base, share))
        print(f"  medium, specular spots {share * 100:>5.2f} %  -> {g:.4f}")
    print(f"  medium, white sheet 30 %            -> {glare_share(add_sheet(base, 0.30)):.4f}")
    print(
        "  medium, white sheet 30 % + spots 0.5 % -> "
        f"{glare_share(add_specular(add_sheet(base, 0.30), 0.005)):.4f}"
    )
    for tone_name in TONES:
        for stops in (0, 0.5, 1, 1.5, 2):
            g = glare_share(expose(scenes[tone_name][0], stops))
            print(f"  {tone_name}, {stops:+g} stops, no spots        -> {g:.4f}")

    print()
    print("defaults:", DEFAULT_THRESHOLDS)

    if args.images:
        print()
        print("real images")
        for path in sorted(args.images.iterdir()):
            if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
                continue
            img = decode_image(path.read_bytes(), max_pixels=200_000_000, max_bytes=1 << 30)
            q = assess_photo(img)
            print(
                f"  {path.name}: sharpness {q.sharpness:.1f} mean {q.mean_luminance:.0f} "
                f"hi {q.highlight_clip_share:.3f} lo {q.shadow_clip_share:.3f} "
                f"glare {q.glare_share:.4f} flags {','.join(q.flags) or '-'}"
            )


if __name__ == "__main__":
    main()

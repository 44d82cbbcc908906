"""The 建议重拍 badge and the 重拍 button are read at a glance beside a photo: their text keeps
WCAG AA contrast (4.5:1) on their amber, computed from the stylesheet's own values (custom
properties resolved from base.css's :root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "static" / "css"
AA_NORMAL_TEXT = 4.5


def _rule(css: str, selector: str) -> dict[str, str]:
    found = re.search(rf"(?m)^{re.escape(selector)}\s*\{{([^}}]*)\}}", css)
    assert found, f"no rule for {selector}"
    return {name.strip(): value.strip() for name, value in
            (part.split(":", 1) for part in found.group(1).split(";") if ":" in part)}


def _custom_properties() -> dict[str, str]:
    root = re.search(r":root\s*\{([^}]*)\}", (CSS / "base.css").read_text())
    assert root
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+)", root.group(1)))


def _hex(value: str, custom: dict[str, str]) -> str:
    named = re.fullmatch(r"var\((--[\w-]+)\)", value)
    value = custom[named.group(1)].strip() if named else value
    if value in ("#fff", "white"):
        return "#ffffff"
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", value), value
    return value


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    lighter, darker = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_formula_matches_wcag() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#e0a100", "#ffffff") == pytest.approx(2.27, abs=0.01)  # axe's finding


@pytest.mark.parametrize("selector", [".retake-badge", ".retake"])
def test_retake_text_is_readable_on_its_amber(selector: str) -> None:
    rule = _rule((CSS / "call.css").read_text(), selector)
    custom = _custom_properties()
    ratio = contrast(_hex(rule["color"], custom), _hex(rule["background"], custom))
    assert ratio >= AA_NORMAL_TEXT, f"{selector}: {ratio:.2f}:1"

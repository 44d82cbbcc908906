"""media/ keeps the shape the layout promises: small modules, and a pure media/rtp/ that
imports nothing from the aiortc bridge (so it is read and unit-tested on its own)."""

from __future__ import annotations

import ast
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "media"
MAX_LINES = 600


def test_no_media_module_is_over_600_lines():
    sizes = {
        str(path.relative_to(MEDIA.parent)): len(path.read_text("utf-8").splitlines())
        for path in MEDIA.rglob("*.py")
    }
    assert len(sizes) > 20
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_the_pure_rtp_package_does_not_import_the_bridge():
    reaches = {
        f"{path.name}: {module}"
        for path in (MEDIA / "rtp").glob("*.py")
        for module in imported_modules(path)
        if module.startswith("media.aiortc_bridge")
    }
    assert reaches == set()

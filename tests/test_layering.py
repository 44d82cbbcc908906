"""The folders' promise, held: the import-linter contracts in `.importlinter` are all kept.

The contracts are the architecture written down (kernel <- domain <- {api, signaling} <- app;
media and recorder know nothing of the server; only media/ touches the aiortc bridge), so a
change that breaks one fails here with import-linter's own account of the offending chain.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_every_layering_contract_is_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = [section for section in _contracts().sections()
                 if section.startswith("importlinter:contract:")]
    assert result.stdout.count(" KEPT") >= len(contracts) > 0, result.stdout


def test_the_contracts_cover_the_layers_the_readme_names() -> None:
    layers = _contracts()["importlinter:contract:layers"]["layers"].split()
    for package in ("server.app", "server.api", "signaling", "server.records", "server.photos",
                    "server.clinical", "server.events", "server.cluster", "server.kernel"):
        assert package in layers, package
    forbidden = _contracts()["importlinter:contract:media-recorder"]["forbidden_modules"].split()
    assert {"server", "signaling"} <= set(forbidden)


def test_a_domain_module_importing_the_app_breaks_the_layers(tmp_path: Path) -> None:
    """The check is live: a planted upward import (clinical -> app) is reported as broken."""
    planted = ROOT / "server" / "clinical" / "_planted_upward_import.py"
    planted.write_text("from server.app import services  # noqa: F401\n")
    try:
        result = _lint_imports("--contract", "layers")
    finally:
        planted.unlink()
    assert result.returncode != 0
    assert "server.clinical._planted_upward_import -> server.app.services" in result.stdout


def _contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser

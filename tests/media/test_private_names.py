"""Private names of aiortc, aioice and pylibsrtp appear nowhere but in media/aiortc_bridge/.

A private name is one that starts with an underscore and is not a dunder: a module
(``pylibsrtp._binding``), a function, class, method or attribute (``_send_rtcp_pli``,
``_rx_srtp``), or a name-mangled attribute (``_RTCRtpReceiver__jitter_buffer``).

The checker reads each module of server/, signaling/, media/, recorder/ and bench/ with
``ast`` and reports:

1. ``import aiortc._x`` / ``from pylibsrtp._binding import y`` — a private module path;
   ``from aiortc.x import _y`` — a private name imported.
2. ``X._y`` (read, written or called) where ``X`` is a name bound by importing one of the
   three packages or anything from them (``aiortc.rtp._foo``, ``RTCRtpReceiver._handle``,
   ``H264Encoder._packetize``).
3. ``obj._y`` on any other object, when ``_y`` is a private name the installed packages
   define (found by reading their source: every private module, function, class, method,
   class attribute and ``self._y`` assignment, mangled names included). This is what
   catches ``receiver._send_rtcp_pli(…)`` or ``dtls.transport._connection`` where nothing
   says the object is aiortc's. ``self._y``/``cls._y`` is left alone in a class of ours
   (its instances are not the packages' objects); in a class with a base imported from
   the packages it is reported unless the class defines ``_y`` in its own body, since an
   attribute its parent defines is the parent's private name.
4. ``getattr``/``setattr``/``hasattr``/``delattr`` with a string (or f-string prefix) that
   is one of those private names or a mangled prefix of one (``"_RTCRtpReceiver__"``).

Rule 3 is by name, so an attribute of our own objects that shares a name with one of the
packages' private names, read on something other than ``self``, is reported too; none
does today, and such a name is better renamed. Not seen: names built at run time beyond
an f-string's literal prefix, and a class that inherits an aiortc class through a class of
ours defined in another module.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aiortc", "aioice", "pylibsrtp")
SCANNED = ("server", "signaling", "media", "recorder", "bench")
BRIDGE = ROOT / "media" / "aiortc_bridge"
NAME_FUNCTIONS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    code: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code}"


@cache
def package_private_names() -> frozenset[str]:
    """Every private name the installed aiortc, aioice and pylibsrtp define."""
    names: set[str] = set()
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, package
        for location in spec.submodule_search_locations:
            for path in Path(location).rglob("*"):
                module = path.name.split(".")[0]
                if path.suffix in (".py", ".so", ".pyd") and is_private(module):
                    names.add(module)
                if path.suffix == ".py":
                    names |= _defined_private_names(ast.parse(path.read_text("utf-8")))
    return frozenset(names)


def _defined_private_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()

    def visit(node: ast.AST, owner: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                names.add(child.name)
                visit(child, child.name.lstrip("_"))
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(_mangled(child.name, owner))
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(_mangled(child.id, owner))
            elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store):
                names.add(_mangled(child.attr, owner))
            visit(child, owner)

    visit(tree, None)
    return {name for name in names if is_private(name)}


def _mangled(name: str, owner: str | None) -> str:
    if owner and name.startswith("__") and not name.endswith("__"):
        return f"_{owner}{name}"
    return name


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class PrivateNameChecker(ast.NodeVisitor):
    """Finds the reaches into the packages' private names in one module (rules above)."""

    def __init__(self, path: str, private: frozenset[str]) -> None:
        self.path = path
        self.private = private
        self.mangled_prefixes = frozenset(
            name[: name.index("__", 1) + 2] for name in private if "__" in name[1:]
        )
        self.bound: set[str] = set()  # names bound to the packages' modules and objects
        self.classes: list[tuple[frozenset[str], bool]] = []  # (own names, a package's subclass)
        self.findings: list[Finding] = []

    def _report(self, node: ast.AST, code: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), code))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] in PACKAGES:
                if any(is_private(part) for part in parts):
                    self._report(node, f"import {alias.name}")
                self.bound.add(alias.asname or parts[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        parts = (node.module or "").split(".")
        if node.level or parts[0] not in PACKAGES:
            return
        if any(is_private(part) for part in parts):
            self._report(node, f"from {node.module} import …")
        for alias in node.names:
            if is_private(alias.name):
                self._report(node, f"from {node.module} import {alias.name}")
            self.bound.add(alias.asname or alias.name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        own: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                own.add(item.name)
            elif isinstance(item, ast.Assign | ast.AnnAssign):
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                own |= {t.id for t in targets if isinstance(t, ast.Name)}
        subclass = any(_root(base) in self.bound for base in node.bases)
        self.classes.append((frozenset(own), subclass))
        self.generic_visit(node)
        self.classes.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        if is_private(name):
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if on_self:
                if self.classes and name in self.private:
                    own, subclass = self.classes[-1]
                    if subclass and name not in own:
                        self._report(node, ast.unparse(node))
            elif _root(node.value) in self.bound or name in self.private:
                self._report(node, ast.unparse(node))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in NAME_FUNCTIONS
            and len(node.args) >= 2
            and self._names_private(node.args[1])
        ):
            self._report(node, ast.unparse(node))
        self.generic_visit(node)

    def _names_private(self, arg: ast.expr) -> bool:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text, whole = arg.value, True
        elif (
            isinstance(arg, ast.JoinedStr)
            and arg.values
            and isinstance(arg.values[0], ast.Constant)
            and isinstance(arg.values[0].value, str)
        ):
            text, whole = arg.values[0].value, False
        else:
            return False
        if not is_private(text):
            return False
        if whole and text in self.private:
            return True
        return any(text.startswith(p) or p.startswith(text) for p in self.mangled_prefixes)


def check_source(source: str, path: str = "<planted>") -> list[Finding]:
    checker = PrivateNameChecker(path, package_private_names())
    checker.visit(ast.parse(source))
    return checker.findings


def scanned_modules() -> list[Path]:
    return sorted(
        path
        for folder in SCANNED
        for path in (ROOT / folder).rglob("*.py")
        if BRIDGE not in path.parents
    )


def test_private_names_of_aiortc_aioice_and_pylibsrtp_stay_in_the_bridge():
    modules = scanned_modules()
    assert len(modules) > 100, "the scan found too few modules to be looking in the right place"
    findings = [
        finding
        for path in modules
        for finding in check_source(path.read_text("utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not findings, (
        "only media/aiortc_bridge/ may touch private names of aiortc, aioice or pylibsrtp "
        "(add what is needed there, with its Requirement):\n" + "\n".join(str(f) for f in findings)
    )


PLANTED = """
import aiortc
import pylibsrtp._binding
from aioice import ice
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import _foo


def reach(receiver, dtls, sender, name):
    RTCRtpReceiver._handle_rtp_packet
    H264Encoder._packetize(b"")
    aiortc.rtcrtpsender.RTCRtpSender._run_rtp
    ice.Connection._protocols
    receiver._send_rtcp_pli(1)
    dtls.transport._connection
    sender._send_keyframe = print
    getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    getattr(receiver, f"_RTCRtpReceiver__{name}")
    setattr(dtls, "_handle_rtp_data", print)


class Statistics(StreamStatistics):
    def add(self, packet):
        self._jitter_q4 += 1
"""
"""One reach per line the checker must report (rules 1-4), in order."""

PLANTED_FINDINGS = [
    (3, "import pylibsrtp._binding"),
    (7, "from aiortc.rtp import _foo"),
    (11, "RTCRtpReceiver._handle_rtp_packet"),
    (12, "H264Encoder._packetize"),
    (13, "aiortc.rtcrtpsender.RTCRtpSender._run_rtp"),
    (14, "ice.Connection._protocols"),
    (15, "receiver._send_rtcp_pli"),
    (16, "dtls.transport._connection"),
    (17, "sender._send_keyframe"),
    (18, "getattr(receiver, '_RTCRtpReceiver__jitter_buffer', None)"),
    (19, "getattr(receiver, f'_RTCRtpReceiver__{name}')"),
    (20, "setattr(dtls, '_handle_rtp_data', print)"),
    (25, "self._jitter_q4"),
]


def test_the_checker_reports_each_kind_of_reach_planted_in_a_module():
    found = [(f.line, f.code) for f in check_source(PLANTED)]
    assert found == PLANTED_FINDINGS


def test_the_checker_leaves_public_names_and_our_own_private_names_alone():
    clean = """
import aiortc.rtp
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.rate import OveruseEstimator


class Ours:
    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self._queue = []  # a name aioice uses privately too: ours here
        self._state = receiver.track
        self.receiver = receiver

    def read(self) -> object:
        return self._queue, self._state, aiortc.rtp.RtcpPsfbPacket, self.receiver.transport


class Track(MediaStreamTrack):
    def __init__(self) -> None:
        super().__init__()
        self._forwarded = 0  # not a name aiortc defines

    def _helper(self) -> int:
        return self._forwarded + self._helper_count

    _helper_count = 1


class Estimator(OveruseEstimator):
    def __init__(self) -> None:
        super().__init__()
        self._minima = []

    def update_min_frame_period(self, ts_delta: float) -> float:
        self._minima.append(ts_delta)
        return min(self._minima)


def names(obj: object) -> object:
    return getattr(obj, "kind"), getattr(obj, "_not_theirs", None), obj.__class__.__name__
"""
    assert check_source(clean) == []


def test_the_bridge_is_where_the_reaches_are():
    """The same checker run on the bridge finds its known reaches: the scan above is real."""
    found = {
        f.code
        for path in BRIDGE.rglob("*.py")
        for f in check_source(path.read_text("utf-8"), str(path))
    }
    for reach in (
        "receiver._send_rtcp_pli",
        "dtls.transport._connection",
        "session._srtp",
        "self._clockrate",
        "import pylibsrtp._binding",
    ):
        assert any(reach in code for code in found), reach

"""The bridge's guard: what the bridge relies on in aiortc, aioice and pylibsrtp, checked on
the installed packages before any browser is involved.

Each module of the bridge lists the private names it relies on in its own
``REQUIREMENTS``, beside the code that needs them (:mod:`~media.aiortc_bridge.receive`,
:mod:`~media.aiortc_bridge.receive_lane`, :mod:`~media.aiortc_bridge.srtp`,
:mod:`~media.aiortc_bridge.send`). :func:`check_hooks` collects and checks them all;
:func:`verify_aiortc` raises :class:`~media.errors.ForwardingHookBroken` once per process
if anything moved, since without the bridge aiortc would silently decode and re-encode
every frame. The server reaches it through :func:`media.consult_media.verify_media_runtime`;
``scripts/canary`` runs the guard's tests (``pytest -m bridge``) against the newest
releases to see what moved.

A requirement reads the installed code rather than trusting a version number: a method
still reads the attributes the bridge repeats or replaces (its bytecode's names), an
instance still has the attribute the bridge swaps, a handler is still a coroutine.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import aiortc
from aiortc import RTCRtpReceiver

from media.errors import ForwardingHookBroken
from media.log import Log

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC = "1.16."
"""The aiortc minor version the bridge was written against (pyproject pins it too)."""


@dataclass(frozen=True)
class Requirement:
    """One aiortc/aioice/pylibsrtp internal the bridge relies on, and a check that it is
    still there."""

    name: str
    why: str
    check: Callable[[], bool]


def code_names(func: object) -> tuple[str, ...]:
    """The globals and attributes a function's bytecode reads by name."""
    code = getattr(func, "__code__", None)
    return tuple(code.co_names) if code is not None else ()


def uses(func: object, *names: str) -> bool:
    """The function's bytecode still reads these globals/attributes by name."""
    used = code_names(func)
    return all(n in used for n in names)


def probe_receiver() -> RTCRtpReceiver | None:
    # RTCRtpReceiver.__init__ only reads ``transport.state``; a stand-in lets the
    # guard look at a real instance's attributes without opening a socket.
    try:
        return RTCRtpReceiver("audio", cast(Any, types.SimpleNamespace(state="new")))
    except Exception:
        return None


def receiver_has(*attributes: str) -> bool:
    """A fresh ``RTCRtpReceiver`` has each of these attributes."""
    probe = probe_receiver()
    return probe is not None and all(hasattr(probe, a) for a in attributes)


def is_coroutine_function(owner: object, attribute: str) -> bool:
    return inspect.iscoroutinefunction(getattr(owner, attribute, None))


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        "aiortc.__version__ == 1.16.x",
        "the receiver/sender internals the bridge names were read in aiortc 1.16.0",
        lambda: str(getattr(aiortc, "__version__", "")).startswith(SUPPORTED_AIORTC),
    ),
)


def requirements() -> tuple[Requirement, ...]:
    """Every requirement of the bridge, collected from the modules that hold them."""
    # Imported here, not at the top: those modules import this one (Requirement, and
    # verify_aiortc before they touch a receiver or a sender).
    from media.aiortc_bridge import receive, receive_lane, send, srtp

    return (
        *REQUIREMENTS,
        *receive.REQUIREMENTS,
        *receive_lane.REQUIREMENTS,
        *srtp.REQUIREMENTS,
        *send.REQUIREMENTS,
    )


def check_hooks() -> list[str]:
    """Every requirement that does not hold on the installed packages, as readable lines."""
    problems = []
    for req in requirements():
        try:
            ok = req.check()
        except Exception as exc:
            ok = False
            logger.debug("hook check %s raised %r", req.name, exc)
        if not ok:
            problems.append(f"{req.name} — needed for: {req.why}")
    return problems


_verified = False


def verify_aiortc(log: Log | None = None) -> None:
    """Check aiortc's internals once per process; raise if anything the bridge needs moved."""
    global _verified
    if _verified:
        return
    problems = check_hooks()
    if problems:
        raise ForwardingHookBroken(
            f"aiortc {getattr(aiortc, '__version__', '?')} no longer has what the "
            "encoded-frame forwarding bridge (media/aiortc_bridge/) relies on; without it "
            "the server would decode and re-encode every frame. Missing or changed:\n  - "
            + "\n  - ".join(problems)
        )
    _verified = True
    (log or logger).info("encoded-frame forwarding hook verified on aiortc %s", aiortc.__version__)


def forget_verification() -> None:
    """Make the next :func:`verify_aiortc` check again (tests that break aiortc on purpose)."""
    global _verified
    _verified = False

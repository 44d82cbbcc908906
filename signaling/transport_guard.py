"""Malformed Socket.IO and Engine.IO traffic is a client's fault, not the server's: it closes
that client's session and costs one log line, never a traceback per packet.

Three places of python-socketio/python-engineio met such traffic with ``logger.exception``
(or let the error escape into aiohttp as a 500): a Socket.IO packet that does not decode, an
Engine.IO packet that does not decode on a WebSocket, an Engine.IO packet of an unknown type.
Here

- a Socket.IO packet is decoded and its type checked before the library dispatches it; a
  malformed one closes the Engine.IO session (no second packet on it);
- an Engine.IO decoding error that escapes the WebSocket loop ends that request with a 400;
- what the libraries still log about a client's traffic goes through :class:`QuietTransportLog`:
  one line per kind of problem and window, with the number of repeats, no traceback.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import engineio
import socketio
from aiohttp import web
from socketio import packet as sio_packet

log = logging.getLogger("shouzhen.signaling.transport")

# What a packet's decoding raises on bad input (json errors are ValueErrors).
MALFORMED = (ValueError, KeyError, IndexError, TypeError, AttributeError)
_DISPATCHED = {sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK}
_BINARY = {sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK}


class QuietTransportLog(logging.Filter):
    """On the libraries' loggers: a record about a client's traffic becomes one line without
    its traceback (the exception's type and message stay), and a kind of line — its message
    template — is let through once per `window_s`, the next one carrying how many were held
    back. Records below WARNING pass as they are."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.msg} ({type(error).__name__}: {str(error)[:200]})"
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        kind = str(record.msg)[:120]
        now = time.monotonic()
        if now - self._last.get(kind, -self.window_s) < self.window_s:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like it in the last {self.window_s:g} s]"
        return True


def transport_logger(name: str, quiet: QuietTransportLog) -> logging.Logger:
    """The logger handed to python-socketio/-engineio: ours, filtered, propagating to the
    server's JSON log; WARNING and up (their INFO is a line per packet)."""
    logger = logging.getLogger(f"shouzhen.signaling.{name}")
    logger.setLevel(logging.WARNING)
    if quiet not in logger.filters:
        logger.addFilter(quiet)
    return logger


class GuardedEngineServer(engineio.AsyncServer):
    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().handle_request(*args, **kwargs)
        except MALFORMED as error:
            # An Engine.IO packet that does not decode escapes the WebSocket loop: the
            # client's connection ends here (it is already closed or will be).
            self.logger.warning("malformed Engine.IO packet; connection closed (%s)",
                                type(error).__name__)
            return web.Response(status=400, text="malformed Engine.IO packet")


class SocketIoInternalsMoved(RuntimeError):
    """python-socketio no longer has the private hooks the guard overrides."""


# The guard overrides private names of python-socketio (pinned exactly in pyproject.toml for
# that reason); a release that renames them must stop the server at start-up, not silently
# drop the guard.
_OVERRIDDEN = ("_handle_eio_message", "_engineio_server_class")
_READ = ("_binary_packet",)


def verify_socketio_internals(server: socketio.AsyncServer) -> None:
    # Defined on AsyncServer itself: the overrides call its versions through super().
    missing = [name for name in _OVERRIDDEN
               if not callable(vars(socketio.AsyncServer).get(name))]
    missing += [name for name in _READ if not isinstance(getattr(server, name, None), dict)]
    if missing:
        raise SocketIoInternalsMoved(
            f"python-socketio {getattr(socketio, '__version__', '?')} has no "
            f"{', '.join(missing)}: signaling/transport_guard.py needs updating")


class GuardedSocketServer(socketio.AsyncServer):
    """python-socketio's server, refusing malformed Socket.IO packets before dispatch."""

    def __init__(self, *args: Any, window_s: float = 60.0, **kwargs: Any) -> None:
        quiet = QuietTransportLog(window_s)
        kwargs["logger"] = transport_logger("socketio", quiet)
        kwargs["engineio_logger"] = transport_logger("engineio", quiet)
        super().__init__(*args, **kwargs)
        verify_socketio_internals(self)

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return GuardedEngineServer

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        problem = self._malformed(eio_sid, data)
        if problem is not None:
            self.logger.warning("malformed Socket.IO packet; session closed (%s)", problem)
            self._binary_packet.pop(eio_sid, None)
            # In the background: closing a long-polling session waits for its next GET, and
            # this runs inside the POST that carried the packet.
            self.start_background_task(self.eio.disconnect, eio_sid)
            return
        await super()._handle_eio_message(eio_sid, data)

    def _malformed(self, eio_sid: str, data: Any) -> str | None:
        """Why `data` cannot be dispatched, or None. Binary attachments of a pending binary
        packet are the library's to collect."""
        if eio_sid in self._binary_packet:
            return None if isinstance(data, bytes) else "text where an attachment was due"
        if not isinstance(data, str):
            return "binary data without a binary packet"
        try:
            decoded = self.packet_class(encoded_packet=data)
        except MALFORMED as error:
            return f"{type(error).__name__}: {str(error)[:120]}"
        if decoded.packet_type in (sio_packet.EVENT, sio_packet.ACK) and not (
                isinstance(decoded.data, list) and (decoded.packet_type == sio_packet.ACK or (
                    decoded.data and isinstance(decoded.data[0], str)))):
            return "an event is a list starting with its name"
        if decoded.packet_type in _DISPATCHED:
            return None
        if decoded.packet_type in _BINARY and self.manager.sid_from_eio_sid(
                eio_sid, decoded.namespace or "/"):
            return None
        return f"packet type {decoded.packet_type} is not accepted here"

"""The malformed-traffic guard overrides private hooks of python-socketio: a release without
them must stop the server at start-up with a message that names them."""

from __future__ import annotations

import pytest
import socketio

from signaling.transport_guard import (
    GuardedSocketServer,
    SocketIoInternalsMoved,
    verify_socketio_internals,
)


def test_the_pinned_python_socketio_has_every_hook_the_guard_overrides() -> None:
    verify_socketio_internals(GuardedSocketServer(async_mode="aiohttp"))


def test_a_release_without_a_hook_stops_the_guard_with_its_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socketio.AsyncServer, "_handle_eio_message")
    with pytest.raises(SocketIoInternalsMoved, match="_handle_eio_message"):
        GuardedSocketServer(async_mode="aiohttp")


def test_a_server_without_its_binary_packet_table_is_refused() -> None:
    server = GuardedSocketServer(async_mode="aiohttp")
    del server._binary_packet
    with pytest.raises(SocketIoInternalsMoved, match="_binary_packet"):
        verify_socketio_internals(server)

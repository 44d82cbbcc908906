"""Socket.IO clients against a running server; the signaling tests use SQLite (the API
tests already prove both databases)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import socketio


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'shouzhen.sqlite3'}"


class Peer:
    """One participant's Socket.IO connection, recording every event it receives."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self._arrived = asyncio.Event()

        @self.client.on("*", namespace="/consult")
        async def any_event(event: str, data: Any = None) -> None:
            self.received[event].append(data)
            self._arrived.set()

    async def connect(self) -> None:
        await self.client.connect(self.url, namespaces=["/consult"], auth={"token": self.token},
                                  transports=["websocket"], wait_timeout=5)

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        ack: dict[str, Any] = await self.client.call(event, {} if data is None else data,
                                                     namespace="/consult", timeout=10)
        return ack

    async def wait_for(self, event: str, count: int = 1, within: float = 5) -> list[Any]:
        async def arrived() -> list[Any]:
            while len(self.received[event]) < count:
                self._arrived.clear()
                await self._arrived.wait()
            return self.received[event]

        return await asyncio.wait_for(arrived(), within)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


@pytest.fixture
async def peers(api):
    opened: list[Peer] = []

    async def open_peer(token: str, connect: bool = True) -> Peer:
        peer = Peer(str(api.client.make_url("/")), token)
        opened.append(peer)
        if connect:
            await peer.connect()
        return peer

    yield open_peer
    for peer in opened:
        await peer.close()


@pytest.fixture
async def consult_in_waiting_room(api, booked_consult, peers):
    """A booked consult whose guardian accepted the notice and sits in the waiting room,
    and whose physician is connected."""
    booked = await booked_consult()
    consult_id = booked["consult"]["id"]
    await api.client.post(f"/api/consults/{consult_id}/recording-notice",
                          headers=api.bearer(booked["guardian_token"]))
    physician = await peers(booked["physician_token"])
    assert (await physician.call("join"))["ok"]
    guardian = await peers(booked["guardian_token"])
    joined = await guardian.call("join")
    assert joined["ok"], joined
    return booked, physician, guardian


# The aiortc stand-ins for the two browsers, and the tap on their encoders/decoders, are
# shared with the media tests (a fixture imported into a conftest is registered here too).
from ..media.conftest import ClientPeer, codec_tap, wait_for  # noqa: E402, F401


@pytest.fixture
async def call_with_media(api, consult_in_waiting_room):
    """A consult in call with both aiortc 'browsers' connected through the server's media
    (signalled over Socket.IO exactly as the page does), gates closed."""
    from server.live import NAMESPACE_KEY

    booked, physician, guardian = consult_in_waiting_room
    assert (await physician.call("admit"))["ok"]
    assert (await physician.call("confirm_guardian_present"))["ok"]
    clients = {"physician": ClientPeer("physician", size=(320, 240), rgb=(220, 30, 30)),
               "guardian": ClientPeer("guardian", size=(320, 240), rgb=(30, 30, 220))}
    sockets = {"physician": physician, "guardian": guardian}

    async def negotiate(role: str) -> None:
        ack = await sockets[role].call("offer", {"sdp": await clients[role].offer(),
                                                 "type": "offer"})
        assert ack["ok"], ack
        await clients[role].accept(ack["sdp"])

    await asyncio.gather(*(negotiate(role) for role in clients))
    namespace = api.client.app[NAMESPACE_KEY]
    media = namespace.live.find(booked["consult"]["id"]).media

    def connected() -> bool:
        roles = media.stats()["roles"]
        return all(roles[r]["connection_state"] == "connected" for r in clients)

    await wait_for(connected, 15, "both peers connected to the server")
    try:
        yield booked, sockets, clients, media, negotiate
    finally:
        for client in clients.values():
            await client.close()

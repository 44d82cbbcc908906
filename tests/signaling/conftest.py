"""Socket.IO clients against a running server; the signaling tests use SQLite (the API
tests already prove both databases)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ..conftest import Peer


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'shouzhen.sqlite3'}"


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


@pytest.fixture
async def call_in_progress(consult_in_waiting_room):
    """The same consult admitted, with the guardian's presence confirmed: clinical work may
    begin (no media)."""
    booked, physician, guardian = consult_in_waiting_room
    assert (await physician.call("admit"))["ok"]
    assert (await physician.call("confirm_guardian_present"))["ok"]
    return booked, physician, guardian


# The aiortc stand-ins for the two browsers, and the tap on their encoders/decoders, are
# shared with the media tests (a fixture imported into a conftest is registered here too).
from ..media.conftest import ClientPeer, codec_tap, settle, wait_for  # noqa: E402, F401


@pytest.fixture
async def call_with_media(api, consult_in_waiting_room):
    """A consult in call with both aiortc 'browsers' connected through the server's media
    (signalled over Socket.IO exactly as the page does), gates closed."""
    from server.app.live import NAMESPACE_KEY

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

"""A real call through the running server: two aiortc peers standing in for the browsers,
signalled over Socket.IO, media forwarded by the server without transcoding."""

import asyncio
import itertools

import numpy as np
import sqlalchemy as sa

from server.kernel.models import PhotoRow

from .conftest import ClientPeer, wait_for


def dominant(colours: list[tuple[int, int, int]]) -> int:
    """Index of the strongest channel in the latest received frames (0 red, 2 blue)."""
    return int(np.argmax(np.mean(colours[-10:], axis=0)))


async def test_each_side_sees_and_hears_the_other_and_the_server_only_forwards(
        call_with_media, codec_tap):
    _booked, _sockets, clients, media, _negotiate = call_with_media
    for client in clients.values():
        client.start()
    physician, guardian = clients["physician"], clients["guardian"]
    await wait_for(lambda: len(guardian.received["video"].pts) >= 45
                   and len(physician.received["video"].pts) >= 45, 20, "45 frames each way")
    await wait_for(lambda: len(guardian.received["audio"].pts) >= 50
                   and len(physician.received["audio"].pts) >= 50, 10, "audio each way")
    assert dominant(guardian.received["video"].colours) == 0  # the physician's red camera
    assert dominant(physician.received["video"].colours) == 2  # the guardian's blue camera
    assert guardian.received["video"].sizes[-1] == (320, 240)
    # Proof of no transcoding: every VP8 frame a client decoded is byte-for-byte a frame a
    # client's encoder produced; the server packed frames but never encoded one.
    encoded, decoded = set(codec_tap.encoded["vp8"]), codec_tap.decoded["vp8"]
    assert len(decoded) >= 90 and all(frame in encoded for frame in decoded)
    assert set(codec_tap.decoded["opus"]) <= set(codec_tap.encoded["opus"])
    stats = media.stats()
    assert stats["video_codec"] == "vp8"
    assert stats["roles"]["guardian"]["forwarded"]["video"] >= 45


async def test_the_stream_still_is_the_guardians_current_frame(api, call_with_media):
    _booked, sockets, clients, _media, _negotiate = call_with_media
    for client in clients.values():
        client.start()
    await wait_for(lambda: len(clients["physician"].received["video"].pts) >= 20, 15,
                   "the guardian's video reaches the physician")
    ack = await sockets["physician"].call("capture_request", {"body_site": "cheek",
                                                              "laterality": "left"})
    assert ack["ok"], ack
    photos = await sockets["physician"].wait_for("photo_captured", within=10)
    still = next(p for p in photos if p["source"] == "stream")
    assert (still["width"], still["height"]) == (320, 240)
    async with api.services.db.reading() as session:
        row = await session.get(PhotoRow, still["id"])
    import cv2
    image = cv2.imdecode(np.frombuffer(api.services.storage.read(row.storage_key), np.uint8),
                         cv2.IMREAD_COLOR)
    # The guardian's synthetic camera is blue (BGR: channel 0) with a moving bar.
    assert int(np.argmax(np.median(image.reshape(-1, 3), axis=0))) == 0
    assert row.media_type == "image/png" and row.request_id == ack["request_id"]


async def test_the_guardian_comes_back_with_a_new_peer_and_video_flows_again(
        api, call_with_media, peers):
    booked, sockets, clients, _media, _negotiate = call_with_media
    for client in clients.values():
        client.start()
    physician = clients["physician"]
    await wait_for(lambda: len(physician.received["video"].pts) >= 20, 15, "video at first")
    await sockets["guardian"].client.eio.disconnect(abort=True)
    await clients["guardian"].close()

    again = await peers(booked["guardian_token"])
    assert (await again.call("join"))["ok"]
    fresh = ClientPeer("guardian-again", size=(320, 240), rgb=(30, 30, 220))
    try:
        ack = await again.call("offer", {"sdp": await fresh.offer(), "type": "offer"})
        assert ack["ok"], ack
        await fresh.accept(ack["sdp"])
        fresh.start()
        before = len(physician.received["video"].pts)
        await wait_for(lambda: len(physician.received["video"].pts) >= before + 30, 20,
                       "video from the guardian's new peer")
        pts = physician.received["video"].pts
        assert all(b > a for a, b in itertools.pairwise(pts))
        presence = [p["status"] for p in sockets["physician"].received["presence"]
                    if p["role"] == "guardian"]
        assert "reconnecting" in presence and "back" in presence
    finally:
        await fresh.close()
    await asyncio.sleep(0)
    async with api.services.db.reading() as session:
        assert (await session.scalars(sa.select(PhotoRow))).all() == []

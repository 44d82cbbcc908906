"""A party drops and comes back with a new peer: the other side keeps its peer, media resumes."""

from __future__ import annotations

import asyncio
import itertools


def strictly_increasing(values: list[int]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


async def test_reconnect_resumes_media_with_monotonic_timestamps(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician", rgb=(220, 30, 30))
    guardian = make_client("guardian", rgb=(30, 30, 220))
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(physician.received["video"].pts) >= 15, 10, "video at the physician")

    # The guardian's phone drops off the network.
    await consult.media.drop("guardian")
    await guardian.close()
    stats = consult.media.stats()["roles"]
    assert stats["guardian"]["connection_state"] == "none"
    assert stats["physician"]["connection_state"] == "connected"
    seen_before = len(physician.received["video"].pts)
    await asyncio.sleep(0.3)

    # ...and comes back with a new peer (and a camera that now looks green).
    guardian2 = make_client("guardian-2", rgb=(30, 220, 30))
    await connected(consult, {"guardian": guardian2})
    await wait(
        lambda: len(physician.received["video"].pts) >= seen_before + 15,
        10,
        "video after reconnect",
    )
    await wait(lambda: len(guardian2.received["video"].pts) >= 10, 10, "video at the new guardian")

    green = physician.received["video"].colours[-1]
    assert green[1] > 150 and green[0] < 90, green
    # The physician's peer was never renegotiated, and what it received never went
    # back in time: RTP timestamps of the forwarded streams stayed monotonic.
    assert consult.media.stats()["roles"]["physician"]["peer_generation"] == 1
    assert consult.media.stats()["roles"]["guardian"]["peer_generation"] == 2
    for kind in ("video", "audio"):
        pts = physician.received[kind].pts
        assert strictly_increasing(pts), f"{kind} timestamps went backwards at the physician"
        # ...and did not wrap (aiortc reads a backwards jump as a 2^32 wrap).
        clock = 90000 if kind == "video" else 48000
        assert pts[-1] - pts[0] < 60 * clock
    sink_pts = [p.pts for p in consult.sink.of("guardian", "video")]
    assert strictly_increasing(sink_pts)
    sources = {e.detail["source"] for e in consult.events_of("track_started", "guardian")}
    assert sources == {1, 2}


async def test_a_new_offer_with_new_credentials_replaces_the_peer(
    make_consult, make_client, connected, wait
):
    """A page reload (or ICE restart) without a drop: the new session wins."""
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(physician.received["video"].pts) >= 5, 10, "video at the physician")

    reloaded = make_client("guardian-reloaded")
    await connected(consult, {"guardian": reloaded})
    await wait(lambda: len(reloaded.received["video"].pts) >= 5, 10, "video at the reloaded page")
    closed = consult.events_of("peer_closed", "guardian")
    assert [e.detail["reason"] for e in closed] == ["replaced"]
    assert consult.media.stats()["roles"]["guardian"]["peer_generation"] == 2


async def test_renegotiation_keeps_the_peer(make_consult, make_client, connected, wait):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(guardian.received["video"].pts) >= 5, 10, "video at the guardian")

    # Same session, new offer (a browser renegotiating, e.g. after toggling a track).
    await guardian.join(consult.media, "guardian")
    seen = len(guardian.received["video"].pts)
    await wait(lambda: len(guardian.received["video"].pts) >= seen + 10, 5, "video keeps flowing")
    assert consult.media.stats()["roles"]["guardian"]["peer_generation"] == 1
    assert not consult.events_of("peer_closed")


async def test_a_browser_closing_its_peer_is_noticed_and_it_can_come_back(
    make_consult, make_client, connected, wait
):
    consult = make_consult()
    physician = make_client("physician")
    guardian = make_client("guardian")
    await connected(consult, {"physician": physician, "guardian": guardian})
    await wait(lambda: len(physician.received["video"].pts) >= 5, 10, "video at the physician")

    await guardian.close()  # tab closed: DTLS close, no drop() from signaling
    await wait(
        lambda: consult.media.stats()["roles"]["guardian"]["connection_state"] == "closed",
        5,
        "the server noticing",
    )
    assert not consult.media.stats()["roles"]["guardian"]["inbound"]["video"]["attached"]
    assert consult.media.stats()["roles"]["physician"]["connection_state"] == "connected"

    back = make_client("guardian-back")
    await connected(consult, {"guardian": back})
    seen = len(physician.received["video"].pts)
    await wait(lambda: len(physician.received["video"].pts) >= seen + 5, 10, "video again")
    await wait(lambda: len(back.received["video"].pts) >= 5, 10, "video at the returning guardian")

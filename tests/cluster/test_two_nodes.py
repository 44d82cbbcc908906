"""Two real node processes sharing PostgreSQL and Redis: one consult, one owner node, a
redirect for the browser that reached the other, and a consult that survives its node."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from ..conftest import AUDITOR_KEY
from .conftest import Browser, ClientPeer, book, family_event, start_media, wait_for


async def test_two_nodes_one_consult_and_it_survives_its_node(two_nodes):
    a, b = two_nodes["a"], two_nodes["b"]
    _consult_id, doctor_token, family_token = await book(a.url)
    doctor, family = Browser(doctor_token), Browser(family_token)
    peers: list[ClientPeer] = []
    try:
        await doctor.connect(a.url)
        await family.connect(b.url)
        assert doctor.node_url == family.node_url, "both browsers end on the owning node"
        owner = two_nodes[next(n for n, node in two_nodes.items()
                               if node.url == doctor.node_url)]
        survivor = b if owner is a else a
        assert (await doctor.call("join"))["ok"] and (await family.call("join"))["ok"]
        assert (await doctor.call("admit"))["ok"]
        assert (await doctor.call("confirm_guardian_present"))["ok"]
        doctor_peer = ClientPeer("doctor", size=(160, 120), rgb=(220, 30, 30))
        family_peer = ClientPeer("family", size=(160, 120), rgb=(30, 30, 220))
        peers += [doctor_peer, family_peer]
        await asyncio.gather(start_media(doctor, doctor_peer), start_media(family, family_peer))
        await wait_for(lambda: len(doctor_peer.received["video"].pts) >= 20
                       and len(family_peer.received["video"].pts) >= 20, 20, "media via owner")

        owner.kill()
        started = time.monotonic()
        for peer in peers:
            await peer.close()
        doctor, family = Browser(doctor_token), Browser(family_token)
        await asyncio.gather(doctor.connect(survivor.url), family.connect(survivor.url))
        assert doctor.node_url == family.node_url == survivor.url
        assert (await doctor.call("join"))["ok"] and (await family.call("join"))["ok"]
        doctor_peer = ClientPeer("doctor-2", size=(160, 120), rgb=(220, 30, 30))
        family_peer = ClientPeer("family-2", size=(160, 120), rgb=(30, 30, 220))
        peers += [doctor_peer, family_peer]
        await asyncio.gather(start_media(doctor, doctor_peer), start_media(family, family_peer))
        await wait_for(lambda: len(doctor_peer.received["video"].pts) >= 20
                       and len(family_peer.received["video"].pts) >= 20, 20,
                       "media via the survivor")
        assert time.monotonic() - started < 30, "back within a bounded time"

        ended = await doctor.call("end", {"outcome": "completed", "diagnosis": "湿疹"})
        assert ended["ok"], ended
        assert (await family_event(family, "ended"))["outcome"] == "completed"
        async with aiohttp.ClientSession() as http, http.get(
                f"{survivor.url}/api/audit/verify",
                headers={"Authorization": f"Bearer {AUDITOR_KEY}"}) as r:
            assert (await r.json())["ok"] is True
    finally:
        for peer in peers:
            await peer.close()
        await doctor.close()
        await family.close()


async def test_audit_appends_from_both_nodes_at_once_keep_one_chain(two_nodes):
    a, b = two_nodes["a"], two_nodes["b"]
    consult_id, _doctor, family_token = await book(a.url)
    family = {"Authorization": f"Bearer {family_token}"}
    async with aiohttp.ClientSession() as http:
        async def view(url: str) -> int:
            async with http.get(f"{url}/api/consults/{consult_id}", headers=family) as r:
                return r.status

        statuses = await asyncio.gather(*(view(node.url) for _ in range(25) for node in (a, b)))
        assert set(statuses) == {200}
        async with http.get(f"{b.url}/api/audit/verify",
                            headers={"Authorization": f"Bearer {AUDITOR_KEY}"}) as r:
            verdict = await r.json()
    assert verdict["ok"] is True and verdict["entries_checked"] >= 50

"""Two real nodes sharing PostgreSQL and Redis: a suspension made through one node stops the
physician at once on the other — the socket there is told and closed, the cached standing
there is forgotten, and the call (held there) ends as aborted for the guardian; the node
that ended it hands the media stop and the seal to the node holding the call."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from ..conftest import ADMIN_KEY
from .conftest import Browser, book, family_event

SUSPENDED_TEXT = "白名单资格已暂停 suspended from the whitelist"


async def test_a_suspension_on_one_node_stops_the_physician_on_the_other(two_nodes):
    a, b = two_nodes["a"], two_nodes["b"]
    consult_id, doctor_token, family_token = await book(a.url)
    doctor, family = Browser(doctor_token), Browser(family_token)
    physician = {"Authorization": f"Bearer {doctor_token}"}
    try:
        await doctor.connect(a.url)
        await family.connect(b.url)
        owner = next(node for node in (a, b) if node.url == doctor.node_url)
        other = b if owner is a else a
        assert (await doctor.call("join"))["ok"] and (await family.call("join"))["ok"]
        assert (await doctor.call("admit"))["ok"]
        assert (await doctor.call("confirm_guardian_present"))["ok"]
        async with aiohttp.ClientSession() as http:
            for node in (a, b):  # each node now holds the physician's standing in its cache
                async with http.get(f"{node.url}/api/consults/{consult_id}",
                                    headers=physician) as r:
                    assert r.status == 200
            async with http.get(f"{other.url}/api/consults/{consult_id}", headers={
                    "Authorization": f"Bearer {ADMIN_KEY}"}) as r:
                physician_id = (await r.json())["physician"]["id"]

            started = time.monotonic()
            async with http.post(f"{other.url}/api/physicians/{physician_id}/whitelist-status",
                                 json={"status": "suspended", "reason": "under review"},
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
                assert r.status == 200, await r.text()
            told = await family_event(doctor, "physician_not_whitelisted", within=2)
            assert told["reasons"] == ["suspended"] and told["message"] == SUSPENDED_TEXT
            while doctor.client is not None and doctor.client.connected:
                assert time.monotonic() - started < 2, "the socket on the other node is open"
                await asyncio.sleep(0.05)
            ended = await family_event(family, "ended", within=2)
            assert time.monotonic() - started < 2
            assert ended["outcome"] == "aborted"
            assert ended["outcome_detail"]["reason"] == "physician_unavailable"

            # The owner's cached standing was forgotten when the other node said so.
            async with http.get(f"{owner.url}/api/consults/{consult_id}",
                                headers=physician) as r:
                assert r.status == 403
                assert (await r.json())["code"] == "physician_not_whitelisted"
            # The node holding the call stopped it (its own "recording stopped": the node that
            # ended the consult handed the media over rather than sealing it from afar) and
            # sealed the archive.
            stopped = await family_event(family, "recording", within=5)
            assert stopped == {"status": "stopped"}
            deadline = time.monotonic() + 15
            while True:
                async with http.get(f"{owner.url}/api/consults/{consult_id}", headers={
                        "Authorization": f"Bearer {ADMIN_KEY}"}) as r:
                    if (await r.json())["state"] == "archived":
                        break
                assert time.monotonic() < deadline, "the consult was never sealed"
                await asyncio.sleep(0.3)
    finally:
        await doctor.close()
        await family.close()

"""Two real node processes sharing PostgreSQL and Redis: one consult, one owner node, a
redirect for the browser that reached the other, and a consult that survives its node."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from ..conftest import ADMIN_KEY, AUDITOR_KEY, ELIGIBLE_PHYSICIAN, _empty_postgres, booking_for
from ..media.conftest import ClientPeer, wait_for

SECRET = "cluster-test-secret-0123456789abcdef0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    node_id: str
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
async def two_nodes(postgres_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    await _empty_postgres(postgres_url)
    ports = {"a": free_port(), "b": free_port()}
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    cluster = f"test-{uuid.uuid4().hex[:8]}"
    nodes: dict[str, Node] = {}
    for name, port in ports.items():
        env = {**os.environ, "DATABASE_URL": postgres_url,
               "REDIS_URL": "redis://127.0.0.1:6379/0", "SHOUZHEN_CLUSTER_NAME": cluster,
               "SHOUZHEN_CLUSTER_ORIGINS": ",".join(urls.values()),
               "SHOUZHEN_NODE_ID": name, "SHOUZHEN_PORT": str(port),
               "SHOUZHEN_PUBLIC_URL": urls[name], "SHOUZHEN_SECRET_KEY": SECRET,
               "SHOUZHEN_ADMIN_KEYS": f"alice:{ADMIN_KEY}",
               "SHOUZHEN_AUDITOR_KEYS": f"audrey:{AUDITOR_KEY}",
               "SHOUZHEN_RECONNECT_GRACE_SECONDS": "30", "SHOUZHEN_LOG_LEVEL": "WARNING"}
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "--data-dir", str(tmp_path / "shared"),
             "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nodes[name] = Node(name, urls[name], process)
    try:
        async with aiohttp.ClientSession() as http:
            for node in nodes.values():
                deadline = time.monotonic() + 30
                while True:
                    try:
                        async with http.get(f"{node.url}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    assert time.monotonic() < deadline, f"node {node.node_id} did not start"
                    assert node.process.poll() is None, f"node {node.node_id} exited"
                    await asyncio.sleep(0.3)
        yield nodes
    finally:
        for node in nodes.values():
            if node.process.poll() is None:
                node.process.terminate()
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.kill()


async def book(url: str) -> tuple[str, str, str]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/physicians", json=ELIGIBLE_PHYSICIAN,
                             headers=admin) as r:
            physician = await r.json()
        async with http.post(f"{url}/api/physicians/{physician['id']}/whitelist-status",
                             json={"status": "active", "reason": "ok"}, headers=admin) as r:
            assert r.status == 200
        body = booking_for(physician["id"], scheduled_start=time.strftime(
            "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
        async with http.post(f"{url}/api/consults", json=body, headers=admin) as r:
            assert r.status == 201, await r.text()
            booked = await r.json()
        consult_id = booked["consult"]["id"]
        doctor = booked["join_links"]["physician"].split("#")[1]
        family = booked["join_links"]["guardian"].split("#")[1]
        async with http.post(f"{url}/api/consults/{consult_id}/recording-notice",
                             headers={"Authorization": f"Bearer {family}"}) as r:
            assert r.status == 200
    return consult_id, doctor, family


class Browser:
    """What the page does with Socket.IO: connect, follow a wrong_node redirect, retry."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.client: socketio.AsyncClient | None = None
        self.node_url = ""
        self.events: dict[str, list[Any]] = {}

    async def connect(self, url: str, within: float = 30) -> str:
        deadline = time.monotonic() + within
        target = url
        while True:
            client = socketio.AsyncClient(reconnection=False)
            refused: list[Any] = []
            # The refusal arrives as {message, data: {code, message, url?}}.
            client.on("connect_error", lambda error: refused.append(
                error.get("data", error) if isinstance(error, dict) else {}),
                namespace="/consult")

            async def record(event: str, data: Any = None) -> None:
                self.events.setdefault(event, []).append(data)

            client.on("*", record, namespace="/consult")
            try:
                await client.connect(target, namespaces=["/consult"], auth={"token": self.token},
                                     transports=["websocket"], wait_timeout=5)
                self.client, self.node_url = client, target
                return target
            except socketio.exceptions.ConnectionError:
                data = refused[-1] if refused else {}
                if data.get("code") == "wrong_node":
                    target = data["url"]  # the owner of this consult
                    continue
                target = url  # the owner is unreachable: back to the front door
            assert time.monotonic() < deadline, f"could not join via {url}: {refused}"
            await asyncio.sleep(0.5)

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        assert self.client is not None
        ack: dict[str, Any] = await self.client.call(event, data or {}, namespace="/consult",
                                                     timeout=15)
        return ack

    async def close(self) -> None:
        if self.client is not None and self.client.connected:
            await self.client.disconnect()


async def start_media(browser: Browser, peer: ClientPeer) -> None:
    ack = await browser.call("offer", {"sdp": await peer.offer(), "type": "offer"})
    assert ack["ok"], ack
    await peer.accept(ack["sdp"])
    peer.start()


async def test_two_nodes_one_consult_and_it_survives_its_node(two_nodes):
    a, b = two_nodes["a"], two_nodes["b"]
    consult_id, doctor_token, family_token = await book(a.url)
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


async def family_event(browser: Browser, event: str, within: float = 10) -> Any:
    deadline = time.monotonic() + within
    while not browser.events.get(event):
        assert time.monotonic() < deadline, f"no {event}"
        await asyncio.sleep(0.1)
    return browser.events[event][-1]


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

"""Real node processes for the cluster and crash tests: start them, book through their
API, and drive them the way the page does (Socket.IO with redirects, aiortc media)."""

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


BASE_ENV = {"SHOUZHEN_SECRET_KEY": SECRET, "SHOUZHEN_ADMIN_KEYS": f"alice:{ADMIN_KEY}",
            "SHOUZHEN_AUDITOR_KEYS": f"audrey:{AUDITOR_KEY}",
            "SHOUZHEN_RECONNECT_GRACE_SECONDS": "30", "SHOUZHEN_LOG_LEVEL": "WARNING",
            "SHOUZHEN_EVENT_STREAM": ""}  # keep test events out of the real stream


def spawn_node(name: str, port: int, data_dir: Path, env: dict[str, str]) -> Node:
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data_dir), "serve"],
        env={**os.environ, **BASE_ENV, "SHOUZHEN_NODE_ID": name, "SHOUZHEN_PORT": str(port),
             "SHOUZHEN_PUBLIC_URL": url, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Node(name, url, process)


async def wait_healthy(node: Node, within: float = 30) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{node.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"node {node.node_id} did not start"
            assert node.process.poll() is None, f"node {node.node_id} exited"
            await asyncio.sleep(0.3)


def stop(node: Node) -> None:
    if node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(10)
        except subprocess.TimeoutExpired:
            node.kill()


@pytest.fixture
async def two_nodes(postgres_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    await _empty_postgres(postgres_url)
    ports = {"a": free_port(), "b": free_port()}
    origins = ",".join(f"http://127.0.0.1:{p}" for p in ports.values())
    shared = {"DATABASE_URL": postgres_url, "REDIS_URL": "redis://127.0.0.1:6379/0",
              "SHOUZHEN_CLUSTER_NAME": f"test-{uuid.uuid4().hex[:8]}",
              "SHOUZHEN_CLUSTER_ORIGINS": origins}
    nodes = {name: spawn_node(name, port, tmp_path / "shared", shared)
             for name, port in ports.items()}
    try:
        for node in nodes.values():
            await wait_healthy(node)
        yield nodes
    finally:
        for node in nodes.values():
            stop(node)


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
            client.on("connect_error", lambda error, seen=refused: seen.append(
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


async def family_event(browser: Browser, event: str, within: float = 10) -> Any:
    deadline = time.monotonic() + within
    while not browser.events.get(event):
        assert time.monotonic() < deadline, f"no {event}"
        await asyncio.sleep(0.1)
    return browser.events[event][-1]




@dataclass
class KilledCall:
    """A consult in call, both parties connected, when its server was SIGKILLed."""

    consult_id: str
    doctor_token: str
    family_token: str
    # Guardian video frames the physician's client had received through the server: what the
    # server had received by then, less at most the frames in flight.
    frames_forwarded: int
    killed_at: float  # time.time()
    killed_at_monotonic: float


async def kill_mid_call(node: Node, *, media_seconds: float | None = 3) -> KilledCall:
    """Book a consult on `node`, join both parties, admit; with `media_seconds`, run media both
    ways (until the physician has 30 guardian frames, then that long); then kill the node."""
    peers: list[ClientPeer] = []
    doctor = family = None
    frames = 0
    try:
        await wait_healthy(node)
        consult_id, doctor_token, family_token = await book(node.url)
        doctor, family = Browser(doctor_token), Browser(family_token)
        await doctor.connect(node.url)
        await family.connect(node.url)
        assert (await doctor.call("join"))["ok"] and (await family.call("join"))["ok"]
        assert (await doctor.call("admit"))["ok"]
        if media_seconds is not None:
            doctor_peer = ClientPeer("doctor", size=(320, 240), rgb=(220, 30, 30))
            family_peer = ClientPeer("family", size=(320, 240), rgb=(30, 30, 220))
            peers += [doctor_peer, family_peer]
            await asyncio.gather(start_media(doctor, doctor_peer),
                                 start_media(family, family_peer))
            await wait_for(lambda: len(doctor_peer.received["video"].pts) >= 30, 20,
                           "the guardian's video reaches the physician through the server")
            await asyncio.sleep(media_seconds)
            frames = len(doctor_peer.received["video"].pts)
        node.kill()
        killed = KilledCall(consult_id, doctor_token, family_token, frames, time.time(),
                            time.monotonic())
    finally:
        for peer in peers:
            await peer.close()
        for browser in (doctor, family):
            if browser is not None:
                await browser.close()
    return killed

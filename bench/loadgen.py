"""A client process: drives several consults end to end and reports what it measured.

Run by ``bench.run`` through multiprocessing (spawn). Protocol on the pipe:
  parent -> ("setup", spec)            spec: url, mode, codec, consults [...]
  child  -> ("ready", {errors})
  parent -> ("window", t0, t1)         monotonic times (system-wide clock)
  child  -> ("result", {...})          after media stopped and every consult ended
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import socketio
import uvloop

from bench import media_files
from bench.client import Party, pair_figures


class Browser:
    """Socket.IO as the page uses it; follows a wrong_node redirect (cluster)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.client: socketio.AsyncClient | None = None
        self.events: dict[str, list[Any]] = {}

    async def connect(self, url: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        target = url
        while True:
            client = socketio.AsyncClient(reconnection=False)
            refused: list[Any] = []
            client.on("connect_error", lambda e, seen=refused: seen.append(
                e.get("data", e) if isinstance(e, dict) else {}), namespace="/consult")

            async def record(event: str, data: Any = None) -> None:
                self.events.setdefault(event, []).append(data)

            client.on("*", record, namespace="/consult")
            try:
                await client.connect(target, namespaces=["/consult"], auth={"token": self.token},
                                     transports=["websocket"], wait_timeout=10)
                self.client = client
                return
            except socketio.exceptions.ConnectionError:
                data = refused[-1] if refused else {}
                if data.get("code") == "wrong_node":
                    target = data["url"]
                    continue
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not connect: {refused}") from None
                await asyncio.sleep(0.5)

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        assert self.client is not None
        ack: dict[str, Any] = await self.client.call(event, data or {}, namespace="/consult",
                                                     timeout=30)
        if not ack.get("ok"):
            raise RuntimeError(f"{event} refused: {ack}")
        return ack

    async def close(self) -> None:
        if self.client is not None and self.client.connected:
            await self.client.disconnect()


class ShouzhenConsult:
    def __init__(self, url: str, spec: dict[str, Any], codec: str, clip: dict[str, Any]) -> None:
        self.url, self.spec = url, spec
        self.parties = {"physician": Party("physician", codec, clip),
                        "guardian": Party("guardian", codec, clip)}
        self.browsers = {"physician": Browser(spec["physician_token"]),
                         "guardian": Browser(spec["guardian_token"])}

    async def start(self) -> None:
        doc, fam = self.browsers["physician"], self.browsers["guardian"]
        await asyncio.gather(doc.connect(self.url), fam.connect(self.url))
        for role in ("physician", "guardian"):
            self.parties[role].join_sent_at = time.monotonic()
            await self.browsers[role].call("join")
        await doc.call("admit")
        await doc.call("confirm_guardian_present")

        async def media(role: str) -> None:
            party = self.parties[role]
            ack = await self.browsers[role].call("offer", {"sdp": await party.offer(),
                                                           "type": "offer"})
            await party.accept(ack["sdp"])

        await asyncio.gather(media("physician"), media("guardian"))

    async def end(self) -> None:
        await self.browsers["physician"].call("end", {"outcome": "completed",
                                                      "diagnosis": "bench"})

    async def close(self) -> None:
        for party in self.parties.values():
            await party.close()
        for browser in self.browsers.values():
            await browser.close()


async def _main(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    kind, spec = await loop.run_in_executor(None, conn.recv)
    assert kind == "setup"
    codec = spec["codec"]
    clip = media_files.load(codec)
    consults: list[Any] = []
    errors: list[str] = []
    if spec["mode"] == "janus":
        from bench.janus import JanusCall
        for c in spec["consults"]:
            consults.append(JanusCall(spec["url"], c["id"], codec, clip, spec.get("record", True)))
    else:
        for c in spec["consults"]:
            consults.append(ShouzhenConsult(spec["url"], c, codec, clip))
    gate = asyncio.Semaphore(4)

    async def start(c: Any) -> None:
        async with gate:
            try:
                await asyncio.wait_for(c.start(), 60)
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
                traceback.print_exc()

    # All but the last consult start together (the burst the sweep's join figure measures);
    # the last joins once they run, so its join -> first frame is timed at that load.
    await asyncio.gather(*(start(c) for c in consults[:-1]))
    if len(consults) > 1:
        await asyncio.sleep(1.0)
    await start(consults[-1])
    conn.send(("ready", {"errors": errors, "pid": os.getpid()}))
    kind, t0, t1 = await loop.run_in_executor(None, conn.recv)
    await asyncio.sleep(max(0.0, t1 - time.monotonic() + 0.5))
    for c in consults:
        for p in c.parties.values():
            p.stop_sending()
    await asyncio.sleep(2.0)  # frames in flight land
    results = []
    for c in consults:
        doc, fam = c.parties["physician"], c.parties["guardian"]
        results.append({"id": c.spec["id"] if hasattr(c, "spec") else c.consult_id,
                        "joined_at_load": len(consults) > 1 and c is consults[-1],
                        "physician_to_guardian": pair_figures(doc, fam, t0, t1),
                        "guardian_to_physician": pair_figures(fam, doc, t0, t1)})
    end_errors: list[str] = []

    async def finish(c: Any) -> None:
        async with gate:
            try:
                await asyncio.wait_for(c.end(), 30)
            except Exception as error:
                end_errors.append(f"{type(error).__name__}: {error}")
            await c.close()

    await asyncio.gather(*(finish(c) for c in consults))
    conn.send(("result", {"consults": results, "errors": errors, "end_errors": end_errors}))


def child(conn: Connection, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    # The generator does the same per-packet aiortc work as the server: give it the same loop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_main(conn))

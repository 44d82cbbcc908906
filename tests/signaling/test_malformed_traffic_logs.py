"""Malformed Socket.IO / Engine.IO traffic and aborted downloads do not flood the server's log
(issue 24, finding 8): each is answered (an error ack, a closed session, a finished
response) and costs at most a line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

from server.api.problems import problem_middleware

JUNK = ["9", "4", "4x", "42[", "40/nope,", "42{}", '42["chat"', "43[", "6", "4" + "[" * 50,
        "x" * 10, '42[1,2]', "47", "42" + "9" * 5000]


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [f"{r.name}: {r.getMessage()[:200]}" for r in records
            if r.exc_info or r.exc_text or "Traceback" in r.getMessage()]


def socket_url(api) -> str:
    return str(api.client.make_url("/")).replace("http", "ws", 1) + \
        "socket.io/?EIO=4&transport=websocket"


async def test_an_event_with_two_arguments_is_answered_and_refused_without_a_traceback(
        api, booked_consult, caplog):
    caplog.set_level(logging.INFO)
    booked = await booked_consult()
    async with aiohttp.ClientSession() as http, http.ws_connect(socket_url(api)) as ws:
        await ws.receive()
        await ws.send_str("40/consult," + json.dumps({"token": booked["guardian_token"]}))
        assert (await ws.receive()).data.startswith("40/consult,")
        acks = []
        for n in range(60):  # a flood: the socket's bucket holds 40
            await ws.send_str(f'42/consult,{n}["chat",{{"text":"hi"}},{{"x":1}}]')
        while len(acks) < 60:
            message = (await asyncio.wait_for(ws.receive(), 5)).data
            if message.startswith("43/consult,"):
                acks.append(json.loads(message.split(",", 1)[1].lstrip("0123456789"))[0])
    codes = [a["error"]["code"] for a in acks]
    assert codes[:3] == ["invalid_payload"] * 3 and "rate_limited" in codes
    assert set(codes) == {"invalid_payload", "rate_limited"}
    assert "2 arguments" in acks[0]["error"]["message"]
    assert tracebacks(caplog.records) == []


async def test_malformed_packets_on_an_anonymous_session_close_it_with_one_line(api, caplog):
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for junk in JUNK:
            async with http.ws_connect(socket_url(api)) as ws:
                await ws.receive()
                for _ in range(20):  # the same junk, again and again, on one session
                    await ws.send_str(junk)
                await ws.send_bytes(b"\x00\x01\x02")
                await asyncio.sleep(0.05)
        # Long-polling gets the same treatment.
        opened = await http.get(str(api.client.make_url("/socket.io/?EIO=4&transport=polling")))
        sid = json.loads((await opened.text())[1:])["sid"]
        for junk in JUNK:
            await http.post(str(api.client.make_url(
                f"/socket.io/?EIO=4&transport=polling&sid={sid}")), data=junk)
    await asyncio.sleep(0.2)
    assert tracebacks(caplog.records) == []
    from_transport = [r for r in caplog.records if r.levelno >= logging.WARNING]
    # Without the guard: ~2 traceback lines per packet (over 600 here).
    assert len(from_transport) <= 2 * len(JUNK), [r.getMessage() for r in from_transport]
    assert not [r for r in caplog.records if r.name == "shouzhen.http"]


async def test_a_download_the_client_abandons_is_not_an_unhandled_error(caplog):
    caplog.set_level(logging.INFO)
    finished = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(100_000):
                await response.write(b"\0" * 65536)
            return response
        finally:
            finished.set()

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/recording", endless)
    # Served as `shouzhen serve` serves (AppRunner: a handler is not cancelled when its client
    # goes, so its next write fails); aiohttp's TestServer would cancel it instead.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            response = await http.get(f"http://127.0.0.1:{port}/recording")
            await response.content.read(65536)
            response.close()  # the auditor closed the tab
        await asyncio.wait_for(finished.wait(), 10)
        await asyncio.sleep(0.2)
    finally:
        await runner.cleanup()
    assert tracebacks(caplog.records) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r for r in caplog.records if "client went away" in r.getMessage()]

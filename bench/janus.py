"""Janus 1.1.2 (Debian) as the comparison gateway: VideoCall plugin, recorded 1:1 calls.

Janus runs with a config written into the run's temp dir: HTTP transport on 127.0.0.1 only,
only the VideoCall plugin, no STUN, and an LD_PRELOAD shim (janus_shim/lo_only.c, compiled
on first use) so that ICE gathers 127.0.0.1. Each party is a Janus session + VideoCall
handle: register, call / incomingcall / accept, then ``set {record: true}``; recordings are
.mjr files, converted with ``janus-pp-rec`` and counted with ffprobe afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.client import Party

HERE = Path(__file__).resolve().parent
SHIM_SRC = HERE / "janus_shim" / "lo_only.c"
SHIM = HERE / "janus_shim" / "lo_only.so"


def build_shim() -> Path:
    if not SHIM.exists() or SHIM.stat().st_mtime < SHIM_SRC.stat().st_mtime:
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(SHIM), str(SHIM_SRC)],
                       check=True)
    return SHIM


class JanusServer:
    def __init__(self, tmp: Path, cpus: set[int]) -> None:
        self.tmp, self.cpus = tmp, cpus
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.recdir = tmp / "recordings"

    async def start(self) -> None:
        from bench.run import free_port
        port = free_port()
        cfg = self.tmp / "janus-cfg"
        cfg.mkdir(parents=True, exist_ok=True)
        self.recdir.mkdir(exist_ok=True)
        libdir = "/usr/lib/x86_64-linux-gnu/janus"
        (cfg / "janus.jcfg").write_text(f"""
general: {{ configs_folder = "{cfg}" plugins_folder = "{libdir}/plugins"
  transports_folder = "{libdir}/transports" events_folder = "{libdir}/events"
  loggers_folder = "{libdir}/loggers" debug_level = 3 admin_secret = "bench-admin" }}
media: {{ rtp_port_range = "40000-60000" }}
nat: {{ nice_debug = false ice_tcp = false }}
plugins: {{ disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videoroom.so,libjanus_voicemail.so" }}
transports: {{ disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_websockets.so" }}
events: {{ broadcast = false }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
""")
        (cfg / "janus.transport.http.jcfg").write_text(f"""
general: {{ json = "plain" base_path = "/janus" http = true port = {port} ip = "127.0.0.1" https = false }}
admin: {{ admin_http = false }}
""")
        (cfg / "janus.plugin.videocall.jcfg").write_text("general: {\n}\n")
        env = {**os.environ, "LD_PRELOAD": str(build_shim())}
        cpus = self.cpus
        self.process = subprocess.Popen(
            ["janus", "-F", str(cfg), "-C", str(cfg / "janus.jcfg"), "-L",
             str(self.tmp / "janus.log")], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        self.url = f"http://127.0.0.1:{port}/janus"
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(self.url + "/info") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"janus did not start: {self.tmp / 'janus.log'}")
                await asyncio.sleep(0.3)

    async def recordings(self, ids: list[str], within: float) -> dict[str, Any]:
        await asyncio.sleep(1.0)
        out: dict[str, Any] = {}
        for cid in ids:
            for role in ("physician", "guardian"):
                mjr = self.recdir / f"{cid}-{role}-video.mjr"
                if not mjr.exists():
                    continue
                frames = 0
                for suffix in (".webm", ".mp4"):  # VP8 -> WebM, H.264 -> MP4
                    out_file = mjr.with_suffix(suffix)
                    subprocess.run(["janus-pp-rec", str(mjr), str(out_file)],
                                   capture_output=True, timeout=60)
                    if out_file.exists() and out_file.stat().st_size > 0:
                        probe = subprocess.run(
                            ["ffprobe", "-v", "error", "-select_streams", "v:0",
                             "-count_packets", "-show_entries", "stream=nb_read_packets",
                             "-of", "csv=p=0", str(out_file)],
                            capture_output=True, text=True, timeout=60)
                        frames = int((probe.stdout.strip() or "0").split(",")[0] or 0)
                    if frames:
                        break
                out.setdefault(cid, {})[role] = {"video": frames, "audio": 0, "dropped": 0}
        return out

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class JanusSession:
    """One browser's Janus session with a VideoCall handle, events by long poll."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.session = 0
        self.handle = 0
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.poller: asyncio.Task[None] | None = None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": f"{random.getrandbits(48):x}"}
        async with self.http.post(self.url + path, json=body) as r:
            reply: dict[str, Any] = await r.json(content_type=None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus error: {reply}")
        return reply

    async def open(self) -> None:
        self.session = (await self.post("", {"janus": "create"}))["data"]["id"]
        self.handle = (await self.post(f"/{self.session}", {
            "janus": "attach", "plugin": "janus.plugin.videocall"}))["data"]["id"]
        self.poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        for _ in range(100000):  # bounded; each long poll lasts up to 30 s
            try:
                async with self.http.get(f"{self.url}/{self.session}?maxev=5") as r:
                    data = await r.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.5)
                continue
            for event in data if isinstance(data, list) else [data]:
                if event.get("janus") == "event":
                    await self.events.put(event)

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = {**jsep, "trickle": False}
        await self.post(f"/{self.session}/{self.handle}", msg)

    async def wait_event(self, what: str, within: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            event = await asyncio.wait_for(self.events.get(), max(0.1, deadline - time.monotonic()))
            result = event.get("plugindata", {}).get("data", {}).get("result", {})
            if isinstance(result, dict) and result.get("event") == what:
                return event
            if "error" in event.get("plugindata", {}).get("data", {}):
                raise RuntimeError(f"videocall error: {event}")

    async def close(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
        with contextlib.suppress(Exception):
            await self.post(f"/{self.session}", {"janus": "destroy"})


class JanusCall:
    """A consult's two parties as a recorded VideoCall (physician calls guardian)."""

    def __init__(self, url: str, consult_id: str, codec: str, clip: dict[str, Any],
                 record: bool) -> None:
        self.url, self.consult_id, self.record = url, consult_id, record
        self.parties = {"physician": Party("physician", codec, clip),
                        "guardian": Party("guardian", codec, clip)}
        self.http: aiohttp.ClientSession | None = None
        self.sessions: dict[str, JanusSession] = {}
        self.recdir = ""

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        info = await (await self.http.get(self.url + "/info")).json(content_type=None)
        del info
        tag = f"{os.getpid()}-{self.consult_id}"
        for role in ("physician", "guardian"):
            s = JanusSession(self.http, self.url)
            await s.open()
            self.sessions[role] = s
            await s.message({"request": "register", "username": f"{role}-{tag}"})
            await s.wait_event("registered")
        doc, fam = self.sessions["physician"], self.sessions["guardian"]
        for p in self.parties.values():
            p.join_sent_at = time.monotonic()
        offer = await self.parties["physician"].offer()
        await doc.message({"request": "call", "username": f"guardian-{tag}"},
                          {"type": "offer", "sdp": offer})
        incoming = await fam.wait_event("incomingcall")
        answer = await self.parties["guardian"].answer(incoming["jsep"]["sdp"])
        await fam.message({"request": "accept"}, {"type": "answer", "sdp": answer})
        accepted = await doc.wait_event("accepted")
        await self.parties["physician"].accept(accepted["jsep"]["sdp"])
        if self.record:
            base = os.environ.get("BENCH_JANUS_RECDIR", "/tmp")
            for role, s in self.sessions.items():
                await s.message({"request": "set", "record": True,
                                 "filename": f"{base}/{self.consult_id}-{role}"})

    async def end(self) -> None:
        await self.sessions["physician"].message({"request": "hangup"})

    async def close(self) -> None:
        for p in self.parties.values():
            await p.close()
        for s in self.sessions.values():
            await s.close()
        if self.http is not None:
            await self.http.close()

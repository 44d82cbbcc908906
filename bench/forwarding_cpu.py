"""Server CPU for one 1:1 consult: passthrough forwarding vs the transcoding relay.

Not collected by pytest. Run from the repository root:

    .venv/bin/python bench/forwarding_cpu.py --seconds 10 --forwarding passthrough
    .venv/bin/python bench/forwarding_cpu.py --seconds 10 --forwarding transcoding

The two stand-in browsers (aiortc clients from conftest.py, 640x480@30 VP8 + Opus
both ways) run in a child process, so the CPU time measured here (this process, all
threads) is the server's: ConsultMedia with a counting sink.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _load_conftest() -> Any:
    spec = importlib.util.spec_from_file_location(
        "media_conftest", HERE.parent / "tests" / "media" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["media_conftest"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def _clients(conn: Connection, size: tuple[int, int], codec: str) -> None:
    conftest = _load_conftest()
    loop = asyncio.get_running_loop()
    mimes = ("video/VP8",) if codec == "vp8" else ("video/H264/42e01f",)
    clients = {
        "physician": conftest.ClientPeer("physician", size=size, video_mimes=mimes, noisy=True),
        "guardian": conftest.ClientPeer(
            "guardian", size=size, rgb=(30, 30, 220), video_mimes=mimes, noisy=True
        ),
    }
    for role, client in clients.items():
        conn.send(("offer", role, await client.offer()))
        _, _, answer = await loop.run_in_executor(None, conn.recv)
        await client.accept(answer)
    await loop.run_in_executor(None, conn.recv)  # "start"
    for client in clients.values():
        client.start()
    await loop.run_in_executor(None, conn.recv)  # "stop"
    conn.send(
        {
            role: {k: len(c.received[k].pts) for k in ("audio", "video")}
            | {"sent_video": c.video.frames_produced}
            for role, c in clients.items()
        }
    )
    for client in clients.values():
        await client.close()


def _client_process(conn: Connection, size: tuple[int, int], codec: str) -> None:
    asyncio.run(_clients(conn, size, codec))


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def on_frame(self, role: str, frame: Any) -> None:
        self.count += 1


async def _server(args: argparse.Namespace) -> dict[str, Any]:
    from media.consult_media import ConsultMedia, MediaConfig

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_client_process, args=(child, (args.width, args.height), args.codec))
    proc.start()
    loop = asyncio.get_running_loop()
    sink = CountingSink()
    media = ConsultMedia("bench", MediaConfig(ice_servers=[], forwarding=args.forwarding), sink)
    for _ in range(2):
        _, role, offer = await loop.run_in_executor(None, parent.recv)
        parent.send(("answer", role, await media.answer(role, offer)))

    deadline = time.monotonic() + 15
    while not all(
        r["connection_state"] == "connected" and all(leg["started"] for leg in r["outbound"])
        for r in media.stats()["roles"].values()
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("peers did not connect")
        await asyncio.sleep(0.05)
    parent.send("start")
    await asyncio.sleep(2)  # warm-up: encoders settle, first keyframes pass

    lags: list[float] = []

    async def probe() -> None:
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    prober = asyncio.create_task(probe())
    before = media.stats()["roles"]
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.seconds)
    cpu1, wall1 = time.process_time(), time.monotonic()
    after = media.stats()["roles"]
    prober.cancel()
    parent.send("stop")
    received = await loop.run_in_executor(None, parent.recv)
    proc.join(10)
    await media.close()

    wall = wall1 - wall0
    forwarded_video = sum(
        after[r]["forwarded"]["video"] - before[r]["forwarded"]["video"] for r in after
    )
    video_bytes = sum(
        after[r]["inbound"]["video"]["bytes"] - before[r]["inbound"]["video"]["bytes"]
        for r in after
    )
    lags.sort()
    return {
        "forwarding": args.forwarding,
        "codec": args.codec,
        "size": f"{args.width}x{args.height}",
        "seconds": round(wall, 2),
        "server_cpu_s_per_s": round((cpu1 - cpu0) / wall, 4),
        "video_streams": 2,
        "forwarded_video_fps": round(forwarded_video / wall / 2, 1),
        "video_kbps_per_stream": round(video_bytes * 8 / wall / 2 / 1000),
        "loop_lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2) if lags else None,
        "loop_lag_median_ms": round(statistics.median(lags) * 1000, 2) if lags else None,
        "clients_received": received,
        "server": {
            role: {
                "received_video": r["received"]["video"],
                "forwarded_video_to": r["forwarded"]["video"],
                "dropped_to": sum(
                    leg["dropped_overflow"] + leg["dropped_awaiting_keyframe"]
                    for leg in r["outbound"]
                ),
                "plis_to": r["keyframe_requests"],
            }
            for role, r in after.items()
        },
        "sink_packets": sink.count,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--forwarding", choices=("passthrough", "transcoding"), default="passthrough"
    )
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    print(json.dumps(asyncio.run(_server(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()

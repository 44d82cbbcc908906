"""The benchmark: N recorded consults against shouzhen (passthrough, transcoding) and Janus.

    .venv/bin/python -m bench --n 1,5,10 --modes passthrough,transcoding,janus --seconds 20

See bench/README.md. Server processes are pinned to CPU 0 (with --workers 2: CPUs 0-1),
the load generator's processes to CPU 1. Every loop here is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = str(ROOT / ".venv" / "bin" / "python")
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
PHYSICIAN = {
    "licence_number": "BENCH-0001", "name": "王医生", "department": "儿科",
    "title": "attending", "independent_practice_since": "2015-09-01",
    "internet_consults_since": "2023-03-01", "training_exam_passed_on": "2025-06-15",
    "specialties": ["growth_development", "nutrition", "dermatology"],
}


def free_port(span: int = 1) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if all(_port_free(port + i) for i in range(span)):
            return port
    raise RuntimeError("no free port")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]


# ------------------------------------------------------------------------- servers

class Server:
    """One shouzhen (or Janus) under test, with its process tree measured by psutil."""

    def __init__(self, mode: str, workers: int, cpus: set[int]) -> None:
        self.mode, self.workers, self.cpus = mode, workers, cpus
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.database_url = ""
        self.janus: Any = None
        self.rss_peak = 0
        self._sampling = False

    def procs(self) -> list[psutil.Process]:
        if self.janus is not None:
            return [psutil.Process(self.janus.process.pid)]
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    async def start(self) -> None:
        if self.mode == "janus":
            from bench.janus import JanusServer
            self.janus = JanusServer(self.tmp, self.cpus)
            await self.janus.start()
            self.url = self.janus.url
            return
        port = free_port(self.workers)
        env = {**os.environ, "SHOUZHEN_ADMIN_KEYS": f"bench:{ADMIN_KEY}",
               "SHOUZHEN_LOG_LEVEL": "WARNING", "SHOUZHEN_FORWARDING": self.mode,
               "SHOUZHEN_BENCH_PROBE_DIR": str(self.tmp),
               "PYTHONPATH": f"{HERE / 'probe'}:{ROOT}",
               "SHOUZHEN_CONSULT_WINDOW_MINUTES": "120"}
        if self.workers > 1:
            name = f"bench_{os.getpid()}_{int(time.time())}"
            await _pg(f'CREATE DATABASE "{name}"')
            self.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            env |= {"DATABASE_URL": self.database_url, "REDIS_URL": "redis://127.0.0.1:6379/0",
                    "SHOUZHEN_CLUSTER_NAME": name}
        cpus = self.cpus
        self.process = subprocess.Popen(
            [PY, "-m", "server", "--data-dir", str(self.tmp / "data"), "serve",
             "--port", str(port), "--workers", str(self.workers)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(self.tmp / "server.log", "w"),
            preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        self.url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for i in range(self.workers):
                deadline = time.monotonic() + 60
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port + i}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(f"server did not start: {self.tmp / 'server.log'}")
                    await asyncio.sleep(0.3)

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def start_rss_sampler(self) -> None:
        self._sampling = True

        def sample() -> None:
            for _ in range(20000):  # bounded: 0.25 s steps
                if not self._sampling:
                    return
                rss = 0
                try:
                    for p in self.procs():
                        rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
                self.rss_peak = max(self.rss_peak, rss)
                time.sleep(0.25)

        threading.Thread(target=sample, daemon=True).start()

    def baseline_rss(self) -> int:
        return sum(p.memory_info().rss for p in self.procs())

    def loop_lags(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """(monotonic time, lag ms) of every probe sample in the window."""
        lags: list[tuple[float, float]] = []
        for path in self.tmp.glob("lag-*.txt"):
            for line in path.read_text().splitlines():
                t, lag = line.split()
                if t0 <= float(t) <= t1:
                    lags.append((float(t), float(lag)))
        return lags

    async def book(self, n: int) -> list[dict[str, Any]]:
        if self.mode == "janus":
            return [{"id": f"call{i}"} for i in range(n)]
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        out = []
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/api/physicians", json=PHYSICIAN,
                                 headers=admin) as r:
                physician = await r.json()
                assert r.status == 201, physician
            async with http.post(f"{self.url}/api/physicians/{physician['id']}/whitelist-status",
                                 json={"status": "active", "reason": "bench"},
                                 headers=admin) as r:
                assert r.status == 200, await r.text()
            start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
            for i in range(n):
                body = {"physician_id": physician["id"], "specialty": "growth_development",
                        "child": {"name": "李小宝", "sex": "female", "birth_date": "2022-05-20",
                                  "patient_id": f"MRN-{i:04d}"},
                        "guardian": {"name": "李妈妈", "relationship": "mother",
                                     "phone": "13800138000"},
                        "scheduled_start": start}
                async with http.post(f"{self.url}/api/consults", json=body, headers=admin) as r:
                    booked = await r.json()
                    assert r.status == 201, booked
                cid = booked["consult"]["id"]
                doc = booked["join_links"]["physician"].split("#")[1]
                fam = booked["join_links"]["guardian"].split("#")[1]
                async with http.post(f"{self.url}/api/consults/{cid}/recording-notice",
                                     headers={"Authorization": f"Bearer {fam}"}) as r:
                    assert r.status == 200, await r.text()
                out.append({"id": cid, "physician_token": doc, "guardian_token": fam})
        return out

    async def recordings(self, ids: list[str], within: float = 30) -> dict[str, Any]:
        """recording_segments rows per consult and participant (waits for finalisation)."""
        if self.mode == "janus":
            return await self.janus.recordings(ids, within)
        deadline = time.monotonic() + within
        rows: list[tuple[Any, ...]] = []
        while time.monotonic() < deadline:
            rows = await self._segment_rows()
            if len({(r[0], r[1]) for r in rows}) >= 2 * len(ids):
                break
            await asyncio.sleep(1)
        out: dict[str, Any] = {}
        for cid, participant, video, audio, dropped in rows:
            d = out.setdefault(cid, {}).setdefault(participant, {"video": 0, "audio": 0,
                                                                 "dropped": 0})
            d["video"] += video
            d["audio"] += audio
            d["dropped"] += dropped
        return out

    async def _segment_rows(self) -> list[tuple[Any, ...]]:
        q = ("SELECT consult_id, participant, video_frames, audio_frames, dropped "
             "FROM recording_segments")
        if self.database_url:
            import asyncpg
            conn = await asyncpg.connect(self.database_url.replace("+asyncpg", ""))
            try:
                return [tuple(r) for r in await conn.fetch(q)]
            finally:
                await conn.close()
        db = sqlite3.connect(self.tmp / "data" / "shouzhen.sqlite3")
        try:
            return list(db.execute(q))
        finally:
            db.close()

    async def stop(self) -> None:
        self._sampling = False
        if self.janus is not None:
            await self.janus.stop()
            return
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGTERM)  # second signal: stop at once
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        if self.database_url:
            await _pg(f'DROP DATABASE IF EXISTS "{self.database_url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def _pg(statement: str) -> None:
    import asyncpg
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


# ------------------------------------------------------------------------- one run

async def run_once(mode: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    server_cpus = {0, 1} if args.workers > 1 else {0}
    client_cpu = None if args.no_pin else 1
    if args.no_pin:
        server_cpus = set(range(os.cpu_count() or 1))
    server = Server(mode, args.workers, server_cpus)
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    pipes: list[Any] = []
    started = time.monotonic()
    try:
        await server.start()
        rss_idle = server.baseline_rss()
        if mode == "janus":
            os.environ["BENCH_JANUS_RECDIR"] = str(server.janus.recdir)
        consults = await server.book(n)
        per = math.ceil(n / max(1, min(args.client_procs, n)))
        loop = asyncio.get_running_loop()
        for i in range(0, n, per):
            parent, child_end = ctx.Pipe()
            from bench.loadgen import child
            p = ctx.Process(target=child, args=(child_end, client_cpu), daemon=True)
            p.start()
            parent.send(("setup", {"url": server.url, "mode": mode, "codec": args.profile,
                                   "consults": consults[i:i + per], "record": True}))
            procs.append(p)
            pipes.append(parent)
        server.start_rss_sampler()
        setup_errors: list[str] = []
        client_pids = []
        for pipe in pipes:
            if not await loop.run_in_executor(None, pipe.poll, 120 + 3 * n):
                raise RuntimeError("client process did not get ready")
            _, ready = pipe.recv()
            setup_errors += ready["errors"]
            client_pids.append(ready["pid"])
        ready_s = time.monotonic() - started
        t0 = time.monotonic() + args.warmup
        t1 = t0 + args.seconds
        for pipe in pipes:
            pipe.send(("window", t0, t1))
        clients = [psutil.Process(pid) for pid in client_pids]
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        cpu0 = server.cpu_seconds()
        ccpu0 = sum(sum(c.cpu_times()[:2]) for c in clients)
        w0 = time.monotonic()
        profile = None
        if args.profile_mode == mode and args.profile_n == n:
            profile = _start_py_spy(server, args.seconds, args.out.parent, args.profile_native)
        await asyncio.sleep(max(0.0, t1 - time.monotonic()))
        cpu1 = server.cpu_seconds()
        ccpu1 = sum(sum(c.cpu_times()[:2]) for c in clients)
        w1 = time.monotonic()
        results: list[dict[str, Any]] = []
        end_errors: list[str] = []
        for pipe in pipes:
            if not await loop.run_in_executor(None, pipe.poll, 60 + 2 * n):
                raise RuntimeError("client process gave no result")
            _, res = pipe.recv()
            results += res["consults"]
            end_errors += res["end_errors"]
        recordings = await server.recordings([c["id"] for c in consults]) if args.record_check \
            else {}
        lags = server.loop_lags(t0, t1)
        if profile is not None:
            profile.wait(args.seconds + 30)
    finally:
        for p in procs:
            p.join(15)
            if p.is_alive():
                p.kill()
        await server.stop()
    wall = w1 - w0
    return summarise(mode, n, args, wall, cpu1 - cpu0, ccpu1 - ccpu0, server.rss_peak, rss_idle,
                     lags, results, recordings, setup_errors, end_errors, ready_s)


def _start_py_spy(
    server: Server, seconds: float, outdir: Path, native: bool
) -> subprocess.Popen[bytes]:
    pid = server.procs()[-1].pid
    # --native pauses the server for each sample to unwind its C frames (uvloop, libsrtp,
    # the socket calls): at 200 Hz that stalled the loop for seconds, at 20 Hz it costs
    # the server a few per cent. --nonblocking reads Python frames without a pause.
    mode = ["--native", "-r", "20"] if native else ["--nonblocking", "-r", "200"]
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "-p", str(pid), "-d",
         str(int(seconds)), "-f", "raw", "-o", str(outdir / "profile.txt"), *mode],
        stdout=subprocess.DEVNULL, stderr=open(outdir / "py-spy.log", "w"))


def summarise(mode: str, n: int, args: argparse.Namespace, wall: float, cpu: float, ccpu: float,
              rss_peak: int, rss_idle: int, lags: list[tuple[float, float]], results: list[dict[str, Any]],
              recordings: dict[str, Any], setup_errors: list[str], end_errors: list[str],
              ready_s: float) -> dict[str, Any]:
    sent = {"audio": 0, "video": 0}
    received = {"audio": 0, "video": 0}
    delays: dict[str, list[float]] = {"audio": [], "video": []}
    first: list[float] = []
    first_at_load: list[float] = []
    rec_video = 0
    fwd_video = 0
    sent_video_total = 0
    missing_first = 0
    packets_lost = frames_broken = 0
    for c in results:
        for direction, src, _dst in (("physician_to_guardian", "physician", "guardian"),
                                    ("guardian_to_physician", "guardian", "physician")):
            d = c[direction]
            for kind in ("audio", "video"):
                sent[kind] += d[kind]["sent"]
                received[kind] += d[kind]["received"]
                delays[kind] += d[kind]["delays_ms"]
            packets_lost += d["video"].get("packets_lost", 0)
            frames_broken += d["video"].get("frames_broken", 0)
            if d["video"]["first_frame_s"] is None:
                missing_first += 1
            else:
                first.append(d["video"]["first_frame_s"])
                if c.get("joined_at_load"):
                    first_at_load.append(d["video"]["first_frame_s"])
            rec = recordings.get(c["id"], {}).get(src)
            if rec is not None:
                rec_video += rec["video"]
                fwd_video += d["video"]["received_total"]
                sent_video_total += d["video"]["sent_total"]
    loss = {k: (1 - received[k] / sent[k]) if sent[k] else None for k in sent}
    row = {
        "mode": mode, "n": n, "profile": args.profile, "workers": args.workers,
        "seconds": round(wall, 2),
        "server_cpu_s_per_s": round(cpu / wall, 4),
        "cpu_per_consult": round(cpu / wall / n, 4),
        "client_cpu_s_per_s": round(ccpu / wall, 3),
        "video_frames_sent": sent["video"], "video_frames_received": received["video"],
        "video_loss": _r(loss["video"]), "audio_loss": _r(loss["audio"]),
        "video_packets_lost_whole_call": packets_lost,
        "video_frames_broken_whole_call": frames_broken,
        "recorded_video_frames": rec_video, "forwarded_video_frames": fwd_video,
        "sent_video_frames_total": sent_video_total,
        "recording_loss": _r(max(0.0, 1 - rec_video / fwd_video)) if fwd_video else None,
        "join_first_frame_p50_s": _r(pct(first, 0.5)), "join_first_frame_p95_s": _r(pct(first, 0.95)),
        # the last consult of each client process joins after the others run: its two
        # streams' join -> first frame, at the load (the p95 above is of the burst)
        "join_first_frame_at_load_max_s": _r(max(first_at_load)) if first_at_load else None,
        "join_first_frame_at_load_s": [_r(v) for v in sorted(first_at_load)],
        "streams_without_first_frame": missing_first,
        "video_delay_p50_ms": _r(pct(delays["video"], 0.5)),
        "video_delay_p95_ms": _r(pct(delays["video"], 0.95)),
        "audio_delay_p50_ms": _r(pct(delays["audio"], 0.5)),
        "audio_delay_p95_ms": _r(pct(delays["audio"], 0.95)),
        "loop_lag_p99_ms": _r(pct([lag for _, lag in lags], 0.99)),
        "loop_lag_samples": len(lags),
        # the worst wake-ups and when (monotonic, as SHOUZHEN_BENCH_GCSTATS logs): a p99 of
        # 300 samples is the third worst, so a few stalls decide it
        "loop_lag_worst": sorted(((round(lag, 1), round(t, 3)) for t, lag in lags),
                                 reverse=True)[:6],
        "rss_peak_mb": round(rss_peak / 2**20, 1),
        "rss_per_consult_mb": round((rss_peak - rss_idle) / 2**20 / n, 2),
        "setup_s": round(ready_s, 1),
        "setup_errors": setup_errors[:5], "end_errors": end_errors[:5],
    }
    if n == 1 and results:
        row["video_trace"] = results[0]["physician_to_guardian"].get("video_trace")
    row["per_direction"] = [
        {k: (c[d][k]["sent"], c[d][k]["received"]) for k in ("audio", "video")}
        for c in results[:3] for d in ("physician_to_guardian", "guardian_to_physician")]
    row["gen_saturated"] = row["client_cpu_s_per_s"] > 0.9 * (1 if not args.no_pin else 2)
    row["clean"] = bool(not setup_errors and row["video_loss"] is not None
                        and row["video_loss"] <= 0.01
                        and (row["loop_lag_p99_ms"] is None or row["loop_lag_p99_ms"] <= 50))
    return row


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


COLUMNS = [("mode", "mode"), ("n", "N"), ("cpu_per_consult", "CPU-s/s/consult"),
           ("server_cpu_s_per_s", "server CPU-s/s"), ("client_cpu_s_per_s", "gen CPU-s/s"),
           ("video_loss", "video loss"), ("audio_loss", "audio loss"),
           ("recording_loss", "rec loss"), ("join_first_frame_p50_s", "1st frame p50 s"),
           ("join_first_frame_p95_s", "1st frame p95 s"),
           ("join_first_frame_at_load_max_s", "1st frame at load max s"),
           ("video_delay_p50_ms", "v delay p50"),
           ("video_delay_p95_ms", "v delay p95"), ("audio_delay_p50_ms", "a delay p50"),
           ("audio_delay_p95_ms", "a delay p95"), ("loop_lag_p99_ms", "loop lag p99 ms"),
           ("rss_per_consult_mb", "RSS MB/consult"), ("gen_saturated", "gen saturated"),
           ("clean", "clean")]


def table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    sep = "|" + "---|" * len(COLUMNS)
    lines = [head, sep]
    for r in rows:
        cells = []
        for k, _ in COLUMNS:
            v = r.get(k)
            if isinstance(v, float) and k.endswith("loss"):
                v = f"{v * 100:.2f}%"
            cells.append("–" if v is None else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    by: dict[int, dict[str, float]] = {}
    for r in rows:
        by.setdefault(r["n"], {})[r["mode"]] = r["cpu_per_consult"]
    out = []
    for n, m in sorted(by.items()):
        p = m.get("passthrough")
        parts = [f"N={n}:"]
        if p and m.get("transcoding"):
            parts.append(f"passthrough/transcoding = {p / m['transcoding']:.3f}")
        if p and m.get("janus"):
            parts.append(f"passthrough/janus = {p / m['janus']:.2f}")
        out.append(" ".join(parts))
    return out


def versions() -> dict[str, str]:
    import aiortc
    import av
    v = {"python": platform.python_version(), "aiortc": aiortc.__version__,
         "pyav": av.__version__, "kernel": platform.release(),
         "cpu": _cpu_model(), "cpus": str(os.cpu_count())}
    try:
        v["janus"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "janus"],
                                    capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        v["janus"] = "not installed"
    return v


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


async def main_async(args: argparse.Namespace) -> None:
    ns = [int(x) for x in args.n.split(",")]
    modes = args.modes.split(",")
    rows: list[dict[str, Any]] = []
    doc = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
           "versions": versions(), "args": {k: str(v) for k, v in vars(args).items()},
           "rows": rows}
    failed: set[str] = set()
    deadline = time.monotonic() + args.budget
    for n in ns:
        for mode in modes:
            if mode in failed and args.sweep:
                continue
            if time.monotonic() > deadline:
                print(f"time budget spent: skipping {mode} N={n}", flush=True)
                continue
            print(f"--- {mode} N={n} ...", flush=True)
            try:
                row = await asyncio.wait_for(run_once(mode, n, args), 300 + 10 * n)
            except Exception as error:  # a failed point is a result too
                row = {"mode": mode, "n": n, "error": f"{type(error).__name__}: {error}",
                       "clean": False}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not row.get("clean"):
                failed.add(mode)
            args.out.write_text(json.dumps(doc, indent=2))
    good = [r for r in rows if "error" not in r]
    print(table(good))
    for line in ratios(good):
        print(line)
    cap: dict[str, int] = {}
    for mode in modes:
        clean = [r["n"] for r in good if r["mode"] == mode and r["clean"]]
        if clean:
            cap[mode] = max(clean)
    doc["capacity_last_clean_n"] = cap
    doc["ratios"] = ratios(good)
    doc["table"] = table(good)
    args.out.write_text(json.dumps(doc, indent=2))
    print("capacity (last clean N):", cap)
    print("written", args.out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1,5,10", help="consult counts, e.g. 1,5,10,20,40")
    parser.add_argument("--modes", default="passthrough,transcoding,janus")
    parser.add_argument("--profile", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--seconds", type=float, default=20, help="measurement window")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--client-procs", type=int, default=2,
                        help="load-client processes, all on the generator's core")
    parser.add_argument("--sweep", action="store_true",
                        help="stop a mode after its first unclean N")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--no-record-check", dest="record_check", action="store_false")
    parser.add_argument("--profile-mode", default="", help="py-spy this mode ...")
    parser.add_argument("--profile-native", action="store_true",
                        help="... with C frames (uvloop, libsrtp, the kernel boundary)")
    parser.add_argument("--profile-n", type=int, default=0, help="... at this N")
    parser.add_argument("--budget", type=float, default=3600, help="seconds for the whole run")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(main_async(args))

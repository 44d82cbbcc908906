"""Event-loop lag probe for benchmarked server processes (bench only, never in production).

The harness puts this directory on PYTHONPATH and sets SHOUZHEN_BENCH_PROBE_DIR. Every
``asyncio.run`` in the process then also runs a task that sleeps 10 ms and records how late
it woke up; once a second it appends "monotonic_time lag_ms" lines to
``<dir>/lag-<pid>.txt``. The server's code is unchanged.

``SHOUZHEN_BENCH_CPROFILE=<start_s>:<seconds>:<path>`` (set by hand around ``python -m
bench``) also runs cProfile in the process from ``start_s`` after start-up for ``seconds``
and writes ``<path>-<pid>.prof`` (pstats). cProfile slows the process down; use it for call
counts and proportions, py-spy or perf for absolute cost.
"""

import os

_DIR = os.environ.get("SHOUZHEN_BENCH_PROBE_DIR")

if _DIR:
    import asyncio
    import time

    _original_run = asyncio.run

    async def _probe(path: str) -> None:
        asyncio.get_running_loop()
        samples: list[str] = []
        last_flush = time.monotonic()
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            now = time.monotonic()
            samples.append(f"{now:.4f} {(now - t - 0.01) * 1000:.3f}\n")
            if now - last_flush >= 1.0:
                with open(path, "a") as out:
                    out.writelines(samples)
                samples.clear()
                last_flush = now

    async def _cprofile(spec: str) -> None:
        import cProfile

        start, seconds, path = spec.split(":", 2)
        await asyncio.sleep(float(start))
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            await asyncio.sleep(float(seconds))
        finally:
            profiler.disable()
            profiler.dump_stats(f"{path}-{os.getpid()}.prof")

    async def _with_probe(main):
        task = asyncio.ensure_future(_probe(os.path.join(_DIR, f"lag-{os.getpid()}.txt")))
        profiling = None
        if os.environ.get("SHOUZHEN_BENCH_CPROFILE"):
            profiling = asyncio.ensure_future(_cprofile(os.environ["SHOUZHEN_BENCH_CPROFILE"]))
        try:
            return await main
        finally:
            task.cancel()
            if profiling is not None:
                profiling.cancel()

    def run(main, **kwargs):  # type: ignore[no-untyped-def]
        return _original_run(_with_probe(main), **kwargs)

    asyncio.run = run

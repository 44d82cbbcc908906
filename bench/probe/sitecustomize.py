"""Event-loop lag probe for benchmarked server processes (bench only, never in production).

The harness puts this directory on PYTHONPATH and sets SHOUZHEN_BENCH_PROBE_DIR. Every
``asyncio.run`` in the process then also runs a task that sleeps ``PERIOD_S`` (50 ms) and
records how late it woke up; once a second it appends "monotonic_time lag_ms" lines to
``<dir>/lag-<pid>.txt``. The server's code is unchanged. The probe's own wake-ups cost the
server CPU that Janus, which it does not probe, never pays: at 10 ms they were 2–5 % of a
forwarded consult at N=3 (bench/README.md, session 8); at 50 ms a 15 s window still holds
300 samples for the lag p99.

``SHOUZHEN_BENCH_CPROFILE=<start_s>:<seconds>:<path>`` (set by hand around ``python -m
bench``) also runs cProfile in the process from ``start_s`` after start-up for ``seconds``
and writes ``<path>-<pid>.prof`` (pstats). cProfile slows the process down; use it for call
counts and proportions, py-spy or perf for absolute cost.

``SHOUZHEN_BENCH_GCSTATS=<path>`` also times every garbage collection and appends, once a
second, "monotonic_time" then collections and seconds spent for generations 0, 1 and 2
(running totals) to ``<path>-<pid>.txt``: what the collector costs, apart from the rest; and
each generation-2 (full) collection, "monotonic_time ms objects_freed", to ``<path>-<pid>-gen2.txt``, to
set beside the worst loop-lag samples (``loop_lag_worst`` in the harness' JSON).
"""

import os

_DIR = os.environ.get("SHOUZHEN_BENCH_PROBE_DIR")

if _DIR:
    import asyncio
    import time

    _original_run = asyncio.run
    PERIOD_S = 0.05

    async def _probe(path: str) -> None:
        asyncio.get_running_loop()
        samples: list[str] = []
        last_flush = time.monotonic()
        while True:
            t = time.monotonic()
            await asyncio.sleep(PERIOD_S)
            now = time.monotonic()
            samples.append(f"{now:.4f} {(now - t - PERIOD_S) * 1000:.3f}\n")
            if now - last_flush >= 1.0:
                with open(path, "a") as out:
                    out.writelines(samples)
                samples.clear()
                last_flush = now

    class _GcClock:
        """Running totals per generation: [collections, seconds]."""

        def __init__(self) -> None:
            import gc

            self.totals = [[0, 0.0], [0, 0.0], [0, 0.0]]
            self.full: list[str] = []  # each full collection: "monotonic_time ms objects_freed"
            self._started = 0.0
            gc.callbacks.append(self._on_gc)

        def _on_gc(self, phase: str, info: dict) -> None:
            if phase == "start":
                self._started = time.perf_counter()
            else:
                took = time.perf_counter() - self._started
                total = self.totals[info["generation"]]
                total[0] += 1
                total[1] += took
                if info["generation"] == 2:
                    self.full.append(f"{time.monotonic():.4f} {took * 1000:.1f} "
                                     f"{info['collected']}\n")

        async def log(self, path: str) -> None:
            while True:
                await asyncio.sleep(1.0)
                fields = " ".join(f"{count} {seconds:.6f}" for count, seconds in self.totals)
                with open(path, "a") as out:
                    out.write(f"{time.monotonic():.4f} {fields}\n")
                if self.full:
                    with open(path.replace(".txt", "-gen2.txt"), "a") as out:
                        out.writelines(self.full)
                    self.full.clear()

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
        gc_log = None
        if os.environ.get("SHOUZHEN_BENCH_GCSTATS"):
            gc_path = f"{os.environ['SHOUZHEN_BENCH_GCSTATS']}-{os.getpid()}.txt"
            gc_log = asyncio.ensure_future(_GcClock().log(gc_path))
        try:
            return await main
        finally:
            task.cancel()
            for extra in (profiling, gc_log):
                if extra is not None:
                    extra.cancel()

    def run(main, **kwargs):  # type: ignore[no-untyped-def]
        return _original_run(_with_probe(main), **kwargs)

    asyncio.run = run

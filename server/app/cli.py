"""The `shouzhen` command: serve, demo, audit verify, keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import uvloop
from aiohttp import web

from recorder.retention_purge import PurgeReport
from server.api.request_services import Services
from server.app import serving_address
from server.app.app import build_app
from server.app.live import NAMESPACE_KEY
from server.app.services import migrated_services
from server.clinical.booking import BookingIn, ChildIn, GuardianIn
from server.clinical.physicians import PhysicianIn, WhitelistChangeIn
from server.clinical.specialties import Specialty
from server.clinical.whitelist import Title
from server.cluster.node_cluster import ClusterUnavailable
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.config import Settings, SettingsError, load_settings, with_generated_secrets
from server.kernel.errors import Conflict
from server.kernel.logs import configure
from server.records.retention_purge import policy_from_settings, run_purge

log = logging.getLogger("shouzhen")
DEMO_LICENCE = "DEMO-110000001"


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in (("data_dir", args.data_dir and Path(args.data_dir)),
                                   ("host", getattr(args, "host", None)),
                                   ("port", getattr(args, "port", None)),
                                   ("public_url", getattr(args, "public_url", None))) if v}
    return with_generated_secrets(load_settings(None, **overrides))


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure(settings.log_level)
    if getattr(args, "workers", 1) > 1:
        return serve_workers(settings, args.workers)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting shouzhen", extra={"settings": settings.masked()})
    ssl_context = None
    if settings.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    if settings.event_loop == "uvloop":
        # The policy, not a Runner: asyncio.run stays the one entry point (bench/probe wraps it).
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.run(_serve(settings, ssl_context))
    except ClusterUnavailable as error:
        log.error("cannot start: %s", error)
        print(f"shouzhen: {error}", file=sys.stderr)
        return 2
    return 0


async def _serve(settings: Settings, ssl_context: ssl.SSLContext | None) -> None:
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    await site.start()
    # What start-up built (modules, the app, aiortc's, PyAV's and SQLAlchemy's tables) lives
    # as long as the process; frozen, the collector's full passes no longer walk it. In the
    # benchmark one full pass over it held the event loop 159 ms (every call on the process
    # froze that long) and the collector took 3.8 % of the server's CPU.
    gc.freeze()
    serving_address.record(settings.data_dir, settings.base_url)
    loop = asyncio.get_running_loop()
    log.info("serving", extra={"url": settings.base_url, "node_id": settings.effective_node_id,
                               "event_loop": type(loop).__module__.split(".")[0],
                               "gc_frozen_objects": gc.get_freeze_count()})
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
        await _drain(app, settings, stopping)
        await runner.cleanup()
    finally:
        serving_address.forget(settings.data_dir)


async def _drain(app: web.Application, settings: Settings, stopping: asyncio.Event) -> None:
    """SIGTERM: take no new consults, let running calls finish (up to the deadline); a
    second signal stops at once."""
    namespace = app[NAMESPACE_KEY]
    if namespace.ctx.cluster is not None:
        await namespace.ctx.cluster.drain()
    stopping.clear()
    deadline = time.monotonic() + settings.drain_seconds
    while namespace.live.in_call() and time.monotonic() < deadline and not stopping.is_set():
        log.info("draining", extra={"calls": namespace.live.in_call()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 5)


def serve_workers(settings: Settings, workers: int) -> int:
    """N node processes on ports port, port+1, …, sharing PostgreSQL and Redis: the simple
    way to use every core of one machine."""
    if not settings.redis_url or settings.effective_database_url.startswith("sqlite"):
        print("shouzhen: --workers needs REDIS_URL and a PostgreSQL DATABASE_URL",
              file=sys.stderr)
        return 2
    scheme = "https" if settings.tls_cert else "http"
    urls = [f"{scheme}://{settings.host}:{settings.port + i}" for i in range(workers)]
    origins = ",".join(sorted({*settings.cluster_origins, *urls}))
    children = []
    for i, url in enumerate(urls):
        env = {**os.environ, "SHOUZHEN_PORT": str(settings.port + i),
               "SHOUZHEN_PUBLIC_URL": url, "SHOUZHEN_CLUSTER_ORIGINS": origins,
               "SHOUZHEN_NODE_ID": f"{settings.effective_node_id.rsplit('-', 1)[0]}-w{i}",
               "SHOUZHEN_DATA_DIR": str(settings.data_dir)}
        children.append(subprocess.Popen([sys.executable, "-m", "server", "serve"], env=env))
    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes)


async def _demo(settings: Settings) -> dict[str, str]:
    async with migrated_services(settings) as services:
        return await _book_demo(services)


async def _book_demo(services: Services) -> dict[str, str]:
    admin = Actor("admin", "demo")
    today = services.clock.today()
    try:
        physician = await services.physicians.create(admin, PhysicianIn(
            licence_number=DEMO_LICENCE, name="王医生", department="儿科 Paediatrics",
            title=Title.ATTENDING, independent_practice_since=date(today.year - 8, 9, 1),
            internet_consults_since=date(today.year - 2, 3, 1),
            training_exam_passed_on=date(today.year - 1, 6, 15),
            specialties=[Specialty.GROWTH_DEVELOPMENT, Specialty.NUTRITION,
                         Specialty.DERMATOLOGY]))
        await services.physicians.change_status(admin, physician["id"], WhitelistChangeIn(
            status="active", reason="demo physician"))
    except Conflict:
        physician = next(p for p in await services.physicians.list()
                         if p["licence_number"] == DEMO_LICENCE)
    record, links = await services.consults.book(admin, BookingIn(
        physician_id=physician["id"], specialty=Specialty.DERMATOLOGY.value,
        child=ChildIn(name="李小宝", sex="female", birth_date=date(today.year - 4, 5, 20)),
        guardian=GuardianIn(name="李妈妈", relationship="mother", phone="13800138000"),
        scheduled_start=services.clock.now(), window_minutes=120))
    return {"consult_id": record.consult.id, "physician": links.physician,
            "guardian": links.guardian, "expires_at": links.expires_at.isoformat()}


def demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not (args.host or args.port or args.public_url):
        # Links for the server running from this data directory, on whatever port it was
        # given; the settings (environment, defaults) only when none is running.
        running = serving_address.running_base_url(settings.data_dir)
        if running is not None:
            settings = settings.model_copy(update={"public_url": running})
    result = asyncio.run(_demo(settings))
    print(f"Demo consult {result['consult_id']} (links valid until {result['expires_at']})")
    print(f"  physician / 医生:  {result['physician']}")
    print(f"  guardian  / 监护人: {result['guardian']}")
    return 0


async def _verify(settings: Settings) -> audit_log.ChainVerdict:
    async with migrated_services(settings) as services, services.db.reading() as session:
        return await audit_log.verify_chain(session)


def audit_verify(args: argparse.Namespace) -> int:
    verdict = asyncio.run(_verify(_settings(args)))
    if verdict.ok:
        print(f"audit chain intact: {verdict.entries_checked} entries verified")
        return 0
    print(f"AUDIT CHAIN BROKEN at entry {verdict.first_broken_seq}: {verdict.problem} "
          f"({verdict.entries_checked} entries verified before it)", file=sys.stderr)
    return 1


def keys(args: argparse.Namespace) -> int:
    settings = _settings(args)
    for role, staff_keys in (("admin", settings.admin_keys), ("auditor", settings.auditor_keys)):
        for key in staff_keys:
            print(f"{role}\t{key.name}\t{key.key}")
    return 0


def _operator() -> str:
    """The OS account running an admin command: what the audit entries name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return f"uid{os.getuid()}"


async def _purge(settings: Settings, *, now: datetime, dry_run: bool,
                 clock_override: bool) -> PurgeReport:
    async with migrated_services(settings) as services:
        return await run_purge(services.db, services.storage,
                               actor=Actor("admin", f"cli:{_operator()}"), now=now,
                               policy=policy_from_settings(settings), dry_run=dry_run,
                               clock_override=clock_override)


def retention_purge(args: argparse.Namespace) -> int:
    """`shouzhen retention purge [--dry-run] [--now ISO]`: an admin tool (it needs the
    server's database and data directory, as `audit verify` does)."""
    settings = _settings(args)
    real_now = datetime.now(UTC)
    now = real_now
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"shouzhen: --now {args.now!r} is not an ISO 8601 instant", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            print("shouzhen: --now needs an offset (e.g. +08:00): a date without one is "
                  "ambiguous by a day", file=sys.stderr)
            return 2
        if not args.dry_run and now > real_now + timedelta(minutes=5) \
                and not args.allow_future_now:
            # Purging "as of" a future date would destroy records before the law allows.
            print("shouzhen: --now lies in the future; that is for --dry-run (or "
                  "--allow-future-now on a copy of the data)", file=sys.stderr)
            return 2
    for raised in policy_from_settings(settings).raised_to_minimum:
        print(f"shouzhen: the configured {raised.value} period is below the legal minimum; "
              "the minimum applies", file=sys.stderr)
    report = asyncio.run(_purge(settings, now=now, dry_run=args.dry_run,
                                clock_override=bool(args.now)))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        verb = "would purge" if report.dry_run else "purged"
        for item in report.purged:
            entry = item.artefact.entry
            print(f"{verb}\t{item.artefact.consult_id}\t{entry.path}\t"
                  f"{entry.retention_class.value}\texpired {item.decision.expires_at.isoformat()}")
        for item in report.held:
            print(f"held\t{item.artefact.consult_id}\t{item.artefact.entry.path}\t"
                  f"legal hold (expired {item.decision.expires_at.isoformat()})")
        for item, error in report.failed:
            print(f"FAILED\t{item.artefact.consult_id}\t{item.artefact.entry.path}\t{error}",
                  file=sys.stderr)
        for consult_id, problem in report.unreadable:
            print(f"SKIPPED\t{consult_id}\t{problem}", file=sys.stderr)
        print(f"{len(report.purged)} {verb}, {len(report.held)} held, {len(report.kept)} kept "
              f"(rule applied as of {now.isoformat()})")
    return 1 if report.failed or report.unreadable else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="shouzhen", description=__doc__)
    root.add_argument("--data-dir", help="data directory (default: $SHOUZHEN_DATA_DIR or ./data)")
    commands = root.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the server")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument("--workers", type=int, default=1,
                           help="node processes on consecutive ports (needs Redis + PostgreSQL)")
    serve_cmd.set_defaults(run=serve)
    demo_cmd = commands.add_parser(
        "demo", help="create a demo physician and consult; print join links (for --public-url "
        "/ --host / --port if given, else for the server running from the data directory)")
    demo_cmd.add_argument("--host", help="the links' host (default: the running server's)")
    demo_cmd.add_argument("--port", type=int, help="the links' port")
    demo_cmd.add_argument("--public-url", help="the links' base, e.g. https://192.168.1.20:8443")
    demo_cmd.set_defaults(run=demo)
    commands.add_parser("keys", help="print the staff API keys").set_defaults(run=keys)
    audit = commands.add_parser("audit", help="audit log tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="verify the whole hash chain").set_defaults(
        run=audit_verify)
    retention = commands.add_parser("retention", help="retention tools")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    purge = retention_commands.add_parser(
        "purge", help="delete sealed artefacts whose retention ended and that no legal hold "
        "keeps; one audit entry per deletion")
    purge.add_argument("--dry-run", action="store_true",
                       help="list what would be purged (and what a hold keeps); change nothing")
    purge.add_argument("--now", help="apply the rule as of this ISO 8601 instant with an "
                       "offset, e.g. 2030-01-01T00:00:00+08:00 (tests, audits of the rule)")
    purge.add_argument("--allow-future-now", action="store_true",
                       help="let --now lie in the future for a real purge (tests and "
                       "rehearsals on a copy of the data only); the entries say so")
    purge.add_argument("--json", action="store_true", help="print the report as JSON")
    purge.set_defaults(run=retention_purge)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SettingsError as error:  # an operator's typo: the variable, not a traceback
        print(f"shouzhen: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())

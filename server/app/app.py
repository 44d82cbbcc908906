"""The aiohttp application: the HTTP API, the pages and the live layer on the services
that `build_services` built."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from server.api import (
    consults_api,
    events_api,
    photos_api,
    physicians_api,
    prescribing_api,
    replay_api,
    system_api,
)
from server.api.auth import REFUSALS
from server.api.problems import problem_middleware
from server.api.request_services import SERVICES, Services
from server.api.routes import Endpoint, Handler
from server.api.system_api import ENDPOINTS
from server.app.live import attach_live_consults, resume_calls_left_open
from server.app.security_headers import install_security_headers
from server.app.services import build_services
from server.events.event_delivery import attach_event_delivery
from server.kernel.clock import Clock
from server.kernel.config import Settings
from server.kernel.refusal_ledger import RefusalLedger

PROJECT_DIR = Path(__file__).resolve().parents[2]
STATIC_DIR = PROJECT_DIR / "static"
# socket.io-client from npm (package-lock.json), served as is: no CDN, no build step.
SOCKET_IO_CLIENT_DIR = PROJECT_DIR / "node_modules" / "socket.io-client" / "dist"
log = logging.getLogger("shouzhen")


def all_endpoints() -> list[Endpoint]:
    return [*system_api.routes.endpoints, *physicians_api.routes.endpoints,
            *consults_api.routes.endpoints, *events_api.routes.endpoints,
            *photos_api.routes.endpoints, *replay_api.routes.endpoints,
            *prescribing_api.routes.endpoints]


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC_DIR / name)
        # Join tokens ride in the fragment: Referrer-Policy (server/app/security_headers.py)
        # keeps them from leaking to anything a page might load.
        response.headers["Cache-Control"] = "no-cache"
        return response

    return handler


def build_app(settings: Settings, clock: Clock | None = None,
              services: Services | None = None) -> web.Application:
    services = services or build_services(settings, clock)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[services.metrics.middleware(), problem_middleware],
    )
    app[SERVICES] = services
    refusals = app[REFUSALS] = RefusalLedger(
        services.db, window_seconds=settings.refusal_window_seconds,
        anonymous_per_minute=settings.anonymous_refusals_per_minute)
    install_security_headers(app)

    async def stop_photo_decoding(app: web.Application) -> None:
        services.photos.close()

    app.on_cleanup.append(stop_photo_decoding)
    app[ENDPOINTS] = tuple(all_endpoints())
    for module in (system_api, physicians_api, consults_api, events_api, photos_api,
                   replay_api, prescribing_api):
        module.routes.add_to(app)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/join", _page("consult.html"))
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    if SOCKET_IO_CLIENT_DIR.is_dir():
        app.router.add_static("/vendor/socket.io/", SOCKET_IO_CLIENT_DIR, follow_symlinks=False)
    else:
        log.warning("socket.io-client is not installed: run `npm ci` (scripts/install does)")
    attach_live_consults(app, services)

    async def start(app: web.Application) -> None:
        await services.db.migrate()
        log.info("database ready", extra={"database": services.settings.masked()[
            "effective_database_url"]})

    async def stop(app: web.Application) -> None:
        await refusals.close()  # what the open windows counted, before the database closes
        await services.db.close()

    app.on_startup.append(start)
    app.on_startup.append(resume_calls_left_open)  # needs the tables `start` migrates
    app.on_cleanup.append(stop)
    # After `start` (the tables exist); stopped on shutdown, before `stop` closes the database.
    attach_event_delivery(app, services.settings, services.db, services.metrics.registry)
    return app

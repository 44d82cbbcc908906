"""The aiohttp application: composes the HTTP API, the pages and (later) signaling."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from server import consults_api, physicians_api, system_api
from server.api_routes import Endpoint, Handler
from server.clock import Clock
from server.config import Settings
from server.problems import problem_middleware
from server.services import SERVICES, Services
from server.system_api import ENDPOINTS

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
log = logging.getLogger("shouzhen")


def all_endpoints() -> list[Endpoint]:
    return [*system_api.routes.endpoints, *physicians_api.routes.endpoints,
            *consults_api.routes.endpoints]


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC_DIR / name)
        # Pages carry no secrets, but join tokens ride in the fragment: keep them from
        # leaking through Referer to anything a page might load.
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response

    return handler


def build_app(settings: Settings, clock: Clock | None = None,
              services: Services | None = None) -> web.Application:
    services = services or Services.build(settings, clock)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[services.metrics.middleware(), problem_middleware],
    )
    app[SERVICES] = services
    app[ENDPOINTS] = tuple(all_endpoints())
    for module in (system_api, physicians_api, consults_api):
        module.routes.add_to(app)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/join", _page("consult.html"))
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)

    async def start(app: web.Application) -> None:
        await services.db.migrate()
        log.info("database ready", extra={"database": services.settings.masked()[
            "effective_database_url"]})

    async def stop(app: web.Application) -> None:
        await services.db.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app

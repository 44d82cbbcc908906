"""One declaration per HTTP endpoint: the route aiohttp serves and the entry the OpenAPI
document lists come from the same object, so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, object] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: tuple[str, ...]  # "admin", "auditor", "physician", "guardian", "capture" or ()
    body: type[BaseModel] | None = None
    body_media_type: str = "application/json"
    success: int = 200
    success_media_type: str = "application/json"
    errors: tuple[int, ...] = ()
    query: tuple[QueryParam, ...] = ()


class ApiRoutes:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, summary: str, tag: str,
              auth: tuple[str, ...] = (), body: type[BaseModel] | None = None,
              body_media_type: str = "application/json", success: int = 200,
              success_media_type: str = "application/json", errors: tuple[int, ...] = (),
              query: tuple[QueryParam, ...] = ()) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(
                method.upper(), path, handler, summary, tag, auth, body, body_media_type,
                success, success_media_type, errors, query))
            return handler

        return register

    def add_to(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)

"""One declaration per HTTP endpoint: the route aiohttp serves and the entry the OpenAPI
document lists come from the same object, so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from server.kernel.errors import MalformedRequest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, object] = field(default_factory=lambda: {"type": "string"})


PAGE_SIZE_MAX = 200
PAGING = (
    QueryParam("limit", f"page size, 1–{PAGE_SIZE_MAX}", {"type": "integer"}),
    QueryParam("offset", "rows to skip", {"type": "integer"}),
)
"""The query parameters of every list endpoint, read by :func:`paging`."""


def paging(query: Mapping[str, str], default_limit: int = 50) -> tuple[int, int]:
    """``(limit, offset)`` from a list endpoint's query; a clear 400 if they are not sane."""
    try:
        limit = int(query.get("limit", str(default_limit)))
        offset = int(query.get("offset", "0"))
    except ValueError:
        raise MalformedRequest("limit and offset must be whole numbers") from None
    if not 1 <= limit <= PAGE_SIZE_MAX or offset < 0:
        raise MalformedRequest(f"limit must be 1–{PAGE_SIZE_MAX} and offset ≥ 0")
    return limit, offset


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

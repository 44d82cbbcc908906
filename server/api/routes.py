"""One declaration per HTTP endpoint: the route aiohttp serves, who may call it, and the
entry the OpenAPI document lists all come from the same object, so they cannot drift apart.
The registry serves each handler behind the access its route declares (server/api/auth.py);
a handler of a route with auth is handed the admitted :class:`Caller`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from server.api.access import Access, IncoherentAccess, Scheme
from server.api.auth import Caller, CallerHandler, enforced
from server.kernel.validation import whole_number

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PublicHandler = Handler
__all__ = ["PAGE_SIZE_MAX", "PAGING", "Access", "ApiRoutes", "Caller", "CallerHandler",
           "Endpoint", "Handler", "PublicHandler", "QueryParam", "paging"]


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, object] = field(default_factory=lambda: {"type": "string"})


PAGE_SIZE_MAX = 200
OFFSET_MAX = 1_000_000_000  # far beyond any list here, and within every database's integer
PAGING = (
    QueryParam("limit", f"page size, 1–{PAGE_SIZE_MAX}",
               {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX}),
    QueryParam("offset", "rows to skip",
               {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX}),
)
"""The query parameters of every list endpoint, read by :func:`paging`."""


def paging(query: Mapping[str, str], default_limit: int = 50) -> tuple[int, int]:
    """``(limit, offset)`` from a list endpoint's query; a clear 400 if they are not sane."""
    limit = whole_number(query.get("limit", str(default_limit)), "limit", 1, PAGE_SIZE_MAX)
    offset = whole_number(query.get("offset", "0"), "offset", 0, OFFSET_MAX)
    return limit, offset


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: PublicHandler | CallerHandler  # as written, for its name and its module
    summary: str
    tag: str
    access: Access
    serve: Handler  # what aiohttp calls: `handler`, behind `access`
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
              auth: tuple[Scheme, ...] | Access, body: type[BaseModel] | None = None,
              body_media_type: str = "application/json", success: int = 200,
              success_media_type: str = "application/json", errors: tuple[int, ...] = (),
              query: tuple[QueryParam, ...] = ()) -> Callable[[CallerHandler], CallerHandler]:
        """A route only the callers that `auth` names may reach; the handler gets the caller."""
        access = auth if isinstance(auth, Access) else Access(auth)
        if access.public:
            raise IncoherentAccess(f"{path}: a route without auth is declared with .public()")
        access.check(path)

        def register(handler: CallerHandler) -> CallerHandler:
            self.endpoints.append(Endpoint(
                method.upper(), path, handler, summary, tag, access, enforced(access, handler),
                body, body_media_type, success, success_media_type, errors, query))
            return handler

        return register

    def public(self, method: str, path: str, *, summary: str, tag: str,
               success: int = 200, success_media_type: str = "application/json",
               errors: tuple[int, ...] = ()) -> Callable[[PublicHandler], PublicHandler]:
        """A route anyone may call, without credentials."""
        def register(handler: PublicHandler) -> PublicHandler:
            self.endpoints.append(Endpoint(
                method.upper(), path, handler, summary, tag, Access(), handler,
                success=success, success_media_type=success_media_type, errors=errors))
            return handler

        return register

    def add_to(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, endpoint.serve)

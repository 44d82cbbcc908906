"""Every error leaves the HTTP API as an RFC 9457 problem document, from this one place."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web

from server.kernel.errors import ShouzhenError

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger("shouzhen.http")


def problem_response(status: int, code: str, title: str, detail: str,
                     instance: str, **extra: Any) -> web.Response:
    body = {"type": f"https://shouzhen.local/problems/{code}", "title": title,
            "status": status, "detail": detail, "instance": instance, "code": code, **extra}
    return web.Response(status=status, content_type=PROBLEM_TYPE,
                        text=json.dumps(body, ensure_ascii=False))


_HTTP_CODES = {400: "malformed_request", 401: "unauthenticated", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ShouzhenError as error:
        problem = problem_response(error.status, error.code, error.title, error.detail,
                                   request.path, **error.extra)
        if "retry_after_s" in error.extra:  # a refusal that passes: say when to come back
            problem.headers["Retry-After"] = str(error.extra["retry_after_s"])
        return problem
    except web.HTTPRequestEntityTooLarge:
        return problem_response(
            413, "payload_too_large", "Payload too large",
            f"the request body is larger than the limit of {request.client_max_size} bytes",
            request.path)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "http_error")
        detail = error.text if error.text and not error.text.startswith(str(error.status)) \
            else f"{error.reason}: {request.method} {request.path}"
        problem = problem_response(error.status, code, error.reason, detail, request.path)
        if isinstance(error, web.HTTPMethodNotAllowed):
            # RFC 9110 §15.5.6: a 405 names the methods the resource does support.
            problem.headers["Allow"] = ", ".join(sorted(error.allowed_methods))
        return problem
    except Exception as error:
        if isinstance(error, ConnectionError) and _client_gone(request):
            # The client went away mid-response (an auditor closing a recording's tab):
            # nothing failed here, and nothing can be sent any more.
            log.info("client went away during the response",
                     extra={"path": request.path, "method": request.method})
            return web.Response(status=499)
        reference = uuid.uuid4().hex[:12]
        log.exception("unhandled error", extra={"reference": reference, "path": request.path})
        return problem_response(500, "internal_error", "Internal error",
                                f"the server failed to handle this request; reference "
                                f"{reference} is in the server log", request.path,
                                reference=reference)


def _client_gone(request: web.Request) -> bool:
    """The request's own connection is closed: a ConnectionError then is the client leaving,
    not one of the server's connections (database, Redis, a webhook) failing."""
    transport = request.transport
    return transport is None or transport.is_closing()

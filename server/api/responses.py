"""JSON responses that keep Chinese text readable (no \\u escapes)."""

from __future__ import annotations

import functools
import json

from aiohttp import web

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_response(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)

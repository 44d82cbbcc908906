"""The browser hardening headers every response carries — pages, /static/*, the vendored
Socket.IO client, the API, media and error documents alike — set in one place, just before
a response's headers leave (aiohttp's ``on_response_prepare``), so a streamed recording or a
refusal raised deep in a handler gets them as surely as a page does."""

from __future__ import annotations

import re

from aiohttp import web

SERVER_NAME = "shouzhen"  # no versions: they only help someone choosing an exploit

# The pages are served from this origin with no inline script or style (static/js, static/css).
# What WebRTC and the camera need: captured stills and received photos are shown from blob:
# URLs (img-src, media-src), Socket.IO talks over XHR and a WebSocket to this host.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
PERMISSIONS_POLICY = ("camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), "
                      "display-capture=()")
HSTS = "max-age=31536000"  # one year; no includeSubDomains: the hospital's other hosts are theirs
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
# Patient data (the API's answers, photos, recordings) never sits in a browser's or a
# proxy's cache; pages are revalidated so a new version is picked up at once.
_NEVER_STORED = ("/api/", "/socket.io/", "/metrics")


def connect_sources(host: str | None) -> str:
    """'self' plus this very host over ws: and wss: for Socket.IO's WebSocket (older browsers
    do not count a WebSocket to the same host as 'self'); a Host header that is not a plain
    host[:port] is left out rather than copied into a policy."""
    if host is None or not _HOST.match(host):
        return "connect-src 'self'"
    return f"connect-src 'self' ws://{host} wss://{host}"


def security_headers(request: web.BaseRequest, secure: bool) -> dict[str, str]:
    """The headers a response to `request` carries; `secure`: it was served over TLS."""
    headers = {
        "Content-Security-Policy": f"{CONTENT_SECURITY_POLICY}; {connect_sources(request.host)}",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Server": SERVER_NAME,
    }
    if secure:
        headers["Strict-Transport-Security"] = HSTS
    if request.path.startswith(_NEVER_STORED):
        headers["Cache-Control"] = "no-store"
    return headers


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(security_headers(request, request.secure))


def install_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(_add_security_headers)

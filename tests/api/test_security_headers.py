"""Browser hardening headers on every class of response, /metrics behind a staff key, and
405 answers that name the allowed methods (issue 24, findings 7 and 9)."""

from __future__ import annotations

import re

import pytest

from server.app.app import SOCKET_IO_CLIENT_DIR, STATIC_DIR

EVERYWHERE = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Server": "shouzhen",
}


def _directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


async def _responses(api) -> dict[str, object]:
    consult_id = "0b0b0b0b-0000-4000-8000-000000000000"
    targets = {
        "page /": ("GET", "/", {}),
        "page /join": ("GET", "/join", {}),
        "static css": ("GET", "/static/css/base.css", {}),
        "static js": ("GET", "/static/js/i18n.js", {}),
        "static html": ("GET", "/static/replay.html", {}),
        "api json": ("GET", "/api/specialties", {}),
        "api with patient data": ("GET", "/api/consults", api.admin),
        "api refusal": ("GET", "/api/consults", {}),
        "not found": ("GET", "/no/such/page", {}),
        "media refusal": ("GET", f"/api/replay/consults/{consult_id}/recordings/1", {}),
        "metrics": ("GET", "/metrics", api.admin),
    }
    if SOCKET_IO_CLIENT_DIR.is_dir():
        targets["vendor js"] = ("GET", "/vendor/socket.io/socket.io.esm.min.js", {})
    found = {}
    for name, (method, path, headers) in targets.items():
        response = await api.client.request(method, path, headers=headers)
        await response.read()
        found[name] = response
    return found


async def test_every_response_class_carries_the_hardening_headers(api):
    for name, response in (await _responses(api)).items():
        for header, value in EVERYWHERE.items():
            assert response.headers.get(header) == value, (name, header, response.headers)
        assert "Strict-Transport-Security" not in response.headers, name  # plain HTTP here
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], name
        assert policy["object-src"] == ["'none'"], name
        assert set(policy["img-src"]) == {"'self'", "blob:", "data:"}
        assert set(policy["media-src"]) == {"'self'", "blob:"}
        host = api.client.server.host, api.client.server.port
        assert set(policy["connect-src"]) == {"'self'", f"ws://{host[0]}:{host[1]}",
                                               f"wss://{host[0]}:{host[1]}"}
        permissions = response.headers["Permissions-Policy"]
        assert "camera=(self)" in permissions and "microphone=(self)" in permissions
        assert "geolocation=()" in permissions
        assert not re.search(r"[Pp]ython|aiohttp|/\d", response.headers["Server"])


async def test_api_answers_and_media_are_never_stored_and_pages_are_revalidated(api):
    found = await _responses(api)
    for name in ("api json", "api with patient data", "api refusal", "media refusal",
                 "metrics"):
        assert found[name].headers.get("Cache-Control") == "no-store", name
    assert found["page /join"].headers.get("Cache-Control") == "no-cache"


async def test_a_host_header_that_is_not_a_host_stays_out_of_the_policy(api):
    response = await api.client.get("/", headers={"Host": "evil; script-src *"})
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


def test_no_page_has_inline_script_style_or_event_handlers():
    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name
        assert "<style" not in html and not re.search(r"\sstyle=", html), page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name


async def test_metrics_need_a_staff_key(api):
    assert (await api.client.get("/metrics")).status == 401
    guardianless = await api.client.get("/metrics", headers=api.bearer("not-a-key-" * 3))
    assert guardianless.status == 401
    for key in (api.admin, api.auditor):
        response = await api.client.get("/metrics", headers=key)
        assert response.status == 200 and "shouzhen_http_requests_total" in await response.text()


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE"])
async def test_an_unsupported_method_is_405_naming_the_allowed_ones(api, method):
    response = await api.client.request(method, "/api/specialties")
    assert response.status == 405
    assert response.headers["Allow"] == "GET"
    assert response.content_type == "application/problem+json"
    page = await api.client.request(method, "/join")
    assert page.status == 405 and page.headers["Allow"] == "GET, HEAD"


def test_hsts_only_over_tls():
    from aiohttp.test_utils import make_mocked_request

    from server.app.security_headers import security_headers

    request = make_mocked_request("GET", "/join", headers={"Host": "clinic.example:8443"})
    assert security_headers(request, secure=True)["Strict-Transport-Security"] == \
        "max-age=31536000"
    assert "Strict-Transport-Security" not in security_headers(request, secure=False)

"""The HTTP contract as a whole: the OpenAPI document, problem documents for every kind of
bad request, health and metrics."""

from openapi_spec_validator import validate

from server.app.app import STATIC_DIR


async def test_the_openapi_document_validates_and_lists_every_route(api):
    document = await (await api.client.get("/api/openapi.json")).json()
    validate(document)
    documented = {(method.upper(), path) for path, ops in document["paths"].items()
                  for method in ops}
    served = set()
    for route in api.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        # Pages are not API; Socket.IO's endpoint is documented in docs/protocol.md.
        if route.method == "HEAD" or path is None or path in ("/", "/join", "/socket.io/"):
            continue
        served.add((route.method, path))
    assert served == documented


async def test_an_oversized_body_is_413_and_changes_nothing(api):
    response = await api.client.post("/api/physicians", data=b"{" + b" " * 70_000 + b"}",
                                     headers={**api.admin, "Content-Type": "application/json"})
    assert response.status == 413
    assert response.content_type == "application/problem+json"
    listed = await (await api.client.get("/api/physicians", headers=api.admin)).json()
    assert listed["physicians"] == []


async def test_a_body_that_is_not_json_is_400(api):
    response = await api.client.post("/api/physicians", data=b"licence=1",
                                     headers=api.admin)
    problem = await response.json()
    assert response.status == 400 and problem["code"] == "malformed_request"


async def test_a_json_array_instead_of_an_object_is_422(api):
    response = await api.client.post("/api/physicians", json=[1, 2], headers=api.admin)
    assert response.status == 422


async def test_unknown_routes_and_methods_get_problem_documents_without_traces(api):
    missing = await api.client.get("/api/nothing-here")
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    wrong_method = await api.client.delete("/api/physicians", headers=api.admin)
    assert wrong_method.status == 405
    assert "Traceback" not in await wrong_method.text()


async def test_healthz_checks_the_database(api):
    body = await (await api.client.get("/healthz")).json()
    assert body["database"] == "ok"


async def test_healthz_is_503_when_the_database_is_unreachable(settings, clock):
    from aiohttp.test_utils import TestClient, TestServer

    from server.app.app import build_app
    from server.app.services import build_services

    unreachable = settings.replace(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    services = build_services(unreachable, clock)
    app = build_app(unreachable, services=services)
    app.on_startup.clear()  # no migrations: the point is that the database is gone
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        assert "database unreachable" in (await response.json())["detail"]
    finally:
        await client.close()


async def test_metrics_count_requests_by_route(api):
    await api.client.get("/healthz")
    text = await (await api.client.get("/metrics", headers=api.auditor)).text()
    assert 'shouzhen_http_requests_total{method="GET",route="/healthz",status="200"}' in text


async def test_the_landing_page_is_served_in_chinese_first(api):
    response = await api.client.get("/")
    assert response.status == 200 and 'lang="zh-CN"' in await response.text()
    assert (STATIC_DIR / "js" / "strings.js").exists()

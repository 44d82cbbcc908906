"""The OpenAPI 3.1 document, built from the endpoint declarations and pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from server.api.routes import Endpoint

ERROR_TEXT = {
    400: "Malformed request (not JSON, bad parameter)",
    401: "Missing, invalid, tampered or expired credentials",
    403: "Credentials valid but not for this consult or role",
    404: "No such resource",
    409: "The resource's state does not allow this",
    413: "Request body too large",
    422: "Validation failed; `errors` lists each field",
    503: "A dependency (database) is unavailable",
}

SECURITY_SCHEMES = {
    "admin": {"type": "http", "scheme": "bearer",
              "description": "An admin API key (SHOUZHEN_ADMIN_KEYS)."},
    "auditor": {"type": "http", "scheme": "bearer",
                "description": "An auditor API key (SHOUZHEN_AUDITOR_KEYS)."},
    "physician": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                  "description": "The physician's join token for this consult."},
    "guardian": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "The guardian's join token for this consult."},
    "capture": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A one-time capture token for one photo request."},
    "replay_grant": {"type": "apiKey", "in": "query", "name": "grant",
                     "description": "An auditor's playback grant for this consult, from "
                                    "POST /api/replay/consults/{consult_id}/playback."},
}

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "instance": {"type": "string"}, "code": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "properties": {"field": {"type": "string"},
                                             "message": {"type": "string"}}}},
    },
}


def build_document(endpoints: Iterable[Endpoint], version: str) -> dict[str, Any]:
    endpoints = list(endpoints)
    models = sorted({e.body for e in endpoints if e.body is not None}, key=lambda m: m.__name__)
    _, schema_doc = models_json_schema([(m, "validation") for m in models],
                                       ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(schema_doc.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "operationId": endpoint.handler.__name__,
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "responses": {str(endpoint.success): {
                "description": "Success",
                "content": {endpoint.success_media_type: {"schema": {}}}}},
        }
        if not endpoint.access.public:
            operation["security"] = [{scheme: []} for scheme in endpoint.access.schemes]
        errors = set(endpoint.errors) | (set() if endpoint.access.public else {401, 403})
        if endpoint.body is not None:
            errors |= {400, 413, 422}
            operation["requestBody"] = {"required": True, "content": {endpoint.body_media_type: {
                "schema": {"$ref": f"#/components/schemas/{endpoint.body.__name__}"}}}}
        for status in sorted(errors):
            operation["responses"][str(status)] = {
                "description": ERROR_TEXT.get(status, "Error"),
                "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}}
        parameters = [{"name": name, "in": "path", "required": True,
                       "schema": {"type": "string"}}
                      for name in re.findall(r"{(\w+)}", endpoint.path)]
        parameters += [{"name": q.name, "in": "query", "required": False,
                        "description": q.description, "schema": q.schema}
                       for q in endpoint.query]
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "shouzhen", "version": version,
                 "description": "First-visit paediatric telemedicine consults (互联网首诊)."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }

"""Prometheus metrics, one registry per application (tests build several apps)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "shouzhen_http_requests_total", "HTTP requests by route and status",
            ["method", "route", "status"], registry=self.registry)
        self.http_latency = Histogram(
            "shouzhen_http_request_seconds", "HTTP request latency", ["route"],
            registry=self.registry)
        self.consults_in_call = Gauge(
            "shouzhen_consults_in_call", "Consults with a live call on this node",
            registry=self.registry)
        self.participants_connected = Gauge(
            "shouzhen_participants_connected", "Connected participant sockets on this node",
            registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self) -> Any:
        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            started = time.perf_counter()
            response: web.StreamResponse = await handler(request)
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            self.http_requests.labels(request.method, route, str(response.status)).inc()
            self.http_latency.labels(route).observe(time.perf_counter() - started)
            return response

        return count

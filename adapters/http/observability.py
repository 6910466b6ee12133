"""Request ids, structured access logs and Prometheus metrics of the portal."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("cashback.portal")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                     (b"x-frame-options", b"DENY")]
_CSP = (b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "cashback_http_request_duration_seconds", "Portal request latency by route, method and status.",
            ["route", "method", "status"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def add_collector(self, collect: Callable[[], Iterable[Any]]) -> None:
        class _Collector:
            def collect(self) -> Iterable[Any]:
                return collect()

            def describe(self) -> Iterable[Any]:
                return []

        self.registry.register(_Collector())


def lag_collector(projection_lag: Callable[[], int], feed_offsets: Callable[[], dict[int, int]],
                  feed_lag: Callable[[], dict[int, int] | None]) -> Callable[[], Iterable[Any]]:
    """Gauges computed at scrape time; the feed lag only when Kafka's end offsets are known."""

    def collect() -> Iterable[Any]:
        try:
            lag = GaugeMetricFamily("cashback_projection_lag_events",
                                    "Events in the log not yet in the portal's projections.")
            lag.add_metric([], float(projection_lag()))
            yield lag
        except Exception as error:
            log.warning("metrics_projection_lag_unavailable", error=str(error))
        try:
            offsets = feed_offsets()
        except Exception as error:
            log.warning("metrics_feed_offsets_unavailable", error=str(error))
            offsets = {}
        if offsets:
            stored = GaugeMetricFamily("cashback_feed_stored_offset",
                                       "Last feed offset stored with the events, per partition.", labels=["partition"])
            for partition, offset in sorted(offsets.items()):
                stored.add_metric([str(partition)], float(offset))
            yield stored
        lags = feed_lag()
        if lags is not None:
            gauge = GaugeMetricFamily("cashback_feed_lag_records",
                                      "Feed records published but not yet registered, per partition.",
                                      labels=["partition"])
            for partition, value in sorted(lags.items()):
                gauge.add_metric([str(partition)], float(value))
            yield gauge

    return collect


class RequestContextMiddleware:
    """Pure ASGI: request id (X-Request-ID in and out), access log line, latency histogram."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = 1
                message.setdefault("headers", [])
                extra = [(b"x-request-id", request_id.encode()), *_SECURITY_HEADERS, _CSP]
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        length = headers.get("content-length", "")
        if scope["method"] in ("POST", "PUT", "PATCH") and length.isdigit() and int(length) > self.max_body:
            await _too_large(send_wrapper, int(length), self.max_body, request_id)
        else:
            received = 0
            limit = self.max_body

            async def receive_limited() -> Message:
                # Content-Length can be absent (chunked uploads): count what actually arrives; over the
                # limit, answer 413 at once and tell the application the client went away.
                nonlocal received
                if status_holder.get("refused"):
                    return {"type": "http.disconnect"}
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit and not status_holder.get("started"):
                        status_holder["refused"] = 1
                        await _too_large(send_wrapper, received, limit, request_id)
                        return {"type": "http.disconnect"}
                return message

            async def send_unless_refused(message: Message) -> None:
                if status_holder.get("refused"):
                    return  # the 413 already went out; whatever the application says next is dropped
                await send_wrapper(message)

            try:
                await self.app(scope, receive_limited, send_unless_refused)
            finally:
                self._observe(scope, status_holder["status"], started)
            return
        self._observe(scope, status_holder["status"], started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "unmatched")
        self.metrics.latency.labels(template, scope["method"], str(status)).observe(elapsed)
        state = scope.get("state", {})
        principal = state.get("principal")
        log.info("http_request", method=scope["method"], route=template, status=status,
                 duration_ms=round(elapsed * 1000, 2),
                 company=getattr(principal, "customer_no", None), role=str(getattr(principal, "role", "")) or None)


async def _too_large(send: Send, length: int, limit: int, request_id: str) -> None:
    import json

    body = json.dumps({
        "type": "urn:cashback:problem:too_large", "title": "Payload too large", "status": 413,
        "detail": f"request body of {length} bytes exceeds the limit of {limit} bytes", "code": "too_large",
        "request_id": request_id,
    }).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

"""The portal's ASGI application: ``create_app(engine)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from adapters.http import api, web
from adapters.http.errors import install_handlers, problem
from adapters.http.models import HealthV1
from adapters.http.observability import Metrics, RequestContextMiddleware, lag_collector
from adapters.http.readside import ReadSide
from adapters.http.service import Portal
from adapters.http.tokens import TokenStore
from cashback import __version__
from cashback.bootstrap import Engine

log = structlog.get_logger(__name__)

DESCRIPTION = """\
The cashback campaign's portal API. Every call needs `Authorization: Bearer <token>` (tokens come from
`cashback tokens create`); an installer token reads and changes its own company's devices only.
Errors are `application/problem+json` with a `code` and, for invalid input, the field-level `errors`.
"""


def create_app(engine: Engine, *, feed_lag: Any = None) -> FastAPI:
    """The portal over an engine (application + read database). ``feed_lag`` overrides the Kafka lookup."""
    settings = engine.settings
    read = ReadSide(engine, staleness=settings.portal_staleness_seconds,
                    budget=settings.portal_catch_up_budget_seconds)
    tokens = TokenStore(engine.read_db)
    portal = Portal(engine, read, tokens)
    metrics = Metrics()
    lag_source = feed_lag if feed_lag is not None else KafkaFeedLag(engine)
    metrics.add_collector(lag_collector(read.lag, lambda: _stored_feed_offsets(engine), lag_source))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("portal_started", store=settings.store, campaign=engine.terms.id)
        yield
        read.close()
        log.info("portal_stopped")

    # No /docs nor /redoc: FastAPI's pages load Swagger UI / ReDoc from a CDN (offline: blank; and against
    # the CSP), and no installed package ships a local copy. The OpenAPI document stays at /openapi.json.
    app = FastAPI(title="Cashback portal API", version=f"1 ({__version__})", description=DESCRIPTION,
                  lifespan=lifespan, openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    app.state.portal = portal
    app.state.metrics = metrics
    install_handlers(app, html_error=web.html_error, is_page=web.is_page)
    web.install_redirects(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics,
                       max_body=settings.portal_max_upload_bytes + 256 * 1024)

    @app.get("/health", response_model=HealthV1, tags=["operations"], summary="Liveness")
    def health() -> Any:
        return {"status": "ok"}

    @app.get("/ready", response_model=HealthV1, tags=["operations"], summary="Readiness: the databases answer",
             responses={503: {"description": "A database does not answer"}})
    async def ready(request: Request) -> Any:
        try:
            await run_in_threadpool(portal.ready)
        except Exception as error:
            log.warning("portal_not_ready", error=str(error))
            return problem(503, "database unreachable", code="not_ready", request=request)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api.build_router(settings.portal_page_max))
    app.include_router(web.build_router())
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    return app


def _stored_feed_offsets(engine: Engine) -> dict[int, int]:
    topic = engine.settings.feed_topic
    trackings = engine.app.recorder.trackings(f"kafka:{topic}:")  # type: ignore[attr-defined]
    return {int(name.rsplit(":", 1)[1]): int(pos) for name, pos in trackings.items()}


class KafkaFeedLag:
    """Feed lag from Kafka's end offsets and the offsets stored with the events; None when unknown.

    Only when ``portal_feed_lag`` is on; the answer is cached for 30 s and a broker that does not answer
    skips the gauge (it is never guessed).
    """

    def __init__(self, engine: Engine, ttl: float = 30.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._at = -1e9
        self._value: dict[int, int] | None = None

    def __call__(self) -> dict[int, int] | None:
        import time

        if not self.engine.settings.portal_feed_lag:
            return None
        if time.monotonic() - self._at < self.ttl:
            return self._value
        self._at = time.monotonic()
        self._value = None
        try:
            from adapters.kafka_clients import feed_consumer
            from workers.feed import feed_lag

            s = self.engine.settings
            consumer = feed_consumer(s.kafka_bootstrap, s.feed_group + "-portal", 1, client_id="cashback-portal-lag")
            try:
                self._value = {p: lag for p, _, _, lag in feed_lag(self.engine.app, consumer, s.feed_topic)}
            finally:
                consumer.close(autocommit=False)
        except Exception as error:
            log.info("feed_lag_unavailable", error=str(error))
        return self._value

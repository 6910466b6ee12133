"""Composition root: builds the application and its read side from settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.campaign_file import load_terms
from adapters.catalog_csv import load_catalog
from cashback.app import CashbackApp
from cashback.clock import Clock, SystemClock
from cashback.settings import Settings
from domain.catalog import DeviceCatalog
from domain.terms import CampaignTerms
from projections.db import PostgresProjectionDB, ProjectionDB, SQLiteProjectionDB
from projections.projector import Projector

if TYPE_CHECKING:
    from workers.dead_letters import DeadLetterSender
    from workers.feed_writer import WriterProcess

log = structlog.get_logger(__name__)


@dataclass
class Engine:
    settings: Settings
    app: CashbackApp
    read_db: ProjectionDB

    @property
    def terms(self) -> CampaignTerms:
        return self.app.terms

    def projector(self, **kwargs: Any) -> Projector:
        return Projector(self.app, self.read_db, **kwargs)

    def close(self) -> None:
        self.read_db.close()
        self.app.close()


def build_recorder(settings: Settings) -> Any:
    """The event store's recorder alone, as ``build`` gives it to the application (same tables, same
    chain key): for a process that only writes, like the feed worker's writer."""
    env = Environment(CashbackApp.name, {**CashbackApp.env, **os.environ, **settings.event_store_env()})
    recorder = InfrastructureFactory.construct(env).process_recorder()
    recorder.chain_key = settings.audit_key.get_secret_value().encode("utf-8")  # type: ignore[attr-defined]
    return recorder


def feed_writer(settings: Settings) -> WriterProcess | None:
    """On PostgreSQL, the process that stores one feed batch while the worker decides the next
    (workers/feed_writer.py); on SQLite, none: the worker stores each batch itself. Call it before
    anything connects: it forks."""
    if settings.store != "postgres":
        return None
    from workers.feed import retry_transient
    from workers.feed_writer import WriterProcess, recorder_store

    def make_store() -> Any:  # runs in the child
        send = dead_letter_sender(settings)
        recorder = build_recorder(settings)
        # Connected now, while the worker builds its engine and joins its group, not at the first batch.
        warm_up(recorder, send)
        return recorder_store(recorder, retry_transient, send)

    return WriterProcess(make_store)


def dead_letter_sender(settings: Settings) -> DeadLetterSender:
    """The feed's dead letters to their topic, with a producer made when first needed."""
    from workers.dead_letters import DeadLetterSender

    def producer() -> Any:
        from adapters.kafka_clients import reliable_producer

        return reliable_producer(settings.kafka_bootstrap, "cashback-feed-dlq")

    return DeadLetterSender(producer, settings.feed_dead_letter_topic, settings.feed_topic)


def warm_up(recorder: Any, dead_letters: DeadLetterSender) -> None:
    """Best effort: a database or broker that does not answer yet is retried by the first batch."""
    try:
        with recorder.datastore.get_connection():
            pass
        dead_letters.producer  # noqa: B018 - made now
    except Exception as error:
        log.info("feed_writer_warm_up_failed", error=str(error))


def open_read_db(settings: Settings) -> ProjectionDB:
    if settings.store == "sqlite":
        return SQLiteProjectionDB(settings.overview_path)
    return PostgresProjectionDB(settings.pg_dsn, settings.pg_schema)


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    terms: CampaignTerms | None = None,
    catalog: DeviceCatalog | None = None,
) -> Engine:
    app = CashbackApp(
        env=settings.event_store_env(),
        terms=terms or load_terms(settings.campaign_file),
        catalog=catalog or load_catalog(settings.catalog_file, cache_dir=settings.data_dir / "cache"),
        clock=clock or SystemClock(),
    )
    app.recorder.chain_key = settings.audit_key.get_secret_value().encode("utf-8")  # type: ignore[attr-defined]
    return Engine(settings=settings, app=app, read_db=open_read_db(settings))

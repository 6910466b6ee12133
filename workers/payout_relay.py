"""Payout relay: a transactional outbox from the event log to the finance topic.

The relay follows the notification log with its own tracking position and
publishes each issued payout to `cashback.payouts.v1` (key = company, a stable
event id in the message and in the `event_id` header, idempotent producer,
acks=all). The position is saved only after Kafka acknowledged the batch, so
a crash in between publishes the same payouts again with the same event ids:
finance de-duplicates on them. A Kafka outage delays payouts, loses none.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

import structlog

from projections.db import ProjectionDB
from schemas.payout import PayoutLineV1, PayoutV1

log = structlog.get_logger(__name__)

TRACKING_NAME = "payout-relay"
ISSUED_TOPIC_SUFFIX = "Payout.Issued"


def event_id_for(payout_id: uuid.UUID) -> uuid.UUID:
    """The stable id of a payout's publication: the same every time it is (re)published."""
    return uuid.uuid5(payout_id, "issued")


def message_from_event(event: Any) -> PayoutV1:
    return PayoutV1(
        event_id=event_id_for(event.originator_id),
        payout_id=event.originator_id,
        run_id=event.run_id,
        campaign_id=event.campaign_id,
        customer_no=event.customer_no,
        currency=event.currency,
        total_cents=event.total_cents,
        lines=[
            PayoutLineV1(serial=line["serial"], device_type=line["device_type"], amount_cents=line["amount_cents"])
            for line in event.lines
        ],
        issued_at=event.timestamp,
    )


class PayoutRelay:
    def __init__(
        self, app: Any, db: ProjectionDB, producer: Any, topic: str, batch_size: int = 500, send_timeout: float = 30.0
    ) -> None:
        """``producer`` is a KafkaProducer, or a callable making one (called again after a failure),
        so the relay can start while Kafka is down."""
        self.app = app
        self.db = db
        self._producer_factory = producer if callable(producer) and not hasattr(producer, "send") else None
        self.producer = None if self._producer_factory else producer
        self.topic = topic
        self.batch_size = batch_size
        self.send_timeout = send_timeout
        self.published = 0
        with self.db.schema_transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
            )

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM projection_tracking WHERE name = %s", (TRACKING_NAME,))
        return int(rows[0][0]) if rows else 0

    def run_once(self) -> int:
        """Publish the payouts in the next slice of the log; returns how many notifications were read."""
        position = self.position()
        notifications = self.app.recorder.select_notifications(
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        issued = [n for n in notifications if n.topic.endswith(ISSUED_TOPIC_SUFFIX)]
        messages = [message_from_event(self.app.mapper.to_domain_event(n)) for n in issued]
        self._publish(messages)
        self._save_position(position, notifications[-1].id)
        self.published += len(messages)
        return len(notifications)

    def _publish(self, messages: list[PayoutV1]) -> None:
        if not messages:
            return
        if self.producer is None:
            assert self._producer_factory is not None
            self.producer = self._producer_factory()
        futures = []
        for message in messages:
            futures.append(
                self.producer.send(
                    self.topic,
                    key=message.customer_no.encode(),
                    value=message.model_dump_json().encode(),
                    headers=[("event_id", str(message.event_id).encode()), ("schema", b"payout.v1")],
                )
            )
        self.producer.flush(timeout=self.send_timeout)
        for message, future in zip(messages, futures, strict=True):
            metadata = future.get(timeout=self.send_timeout)  # raises when Kafka did not acknowledge
            log.info(
                "payout_published",
                payout_id=str(message.payout_id),
                event_id=str(message.event_id),
                company=message.customer_no,
                total_cents=message.total_cents,
                topic=metadata.topic,
                partition=metadata.partition,
                offset=metadata.offset,
            )

    def _save_position(self, expected: int, new: int) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
                " WHERE projection_tracking.position = %s",
                (TRACKING_NAME, new, expected),
            )

    def follow(self, stop: threading.Event, idle_sleep: float = 0.5) -> None:
        log.info("payout_relay_started", topic=self.topic, position=self.position())
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(idle_sleep)
                backoff = 0.5
            except Exception as error:
                log.warning("payout_relay_retry", error=str(error), backoff=backoff)
                self._drop_producer()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        log.info("payout_relay_stopped", published=self.published, position=self.position())
        if self.producer is not None:
            self.producer.close(timeout=10)

    def _drop_producer(self) -> None:
        """After a failure, make a fresh producer next time (only when we own the factory)."""
        if self._producer_factory is not None and self.producer is not None:
            with contextlib.suppress(Exception):
                self.producer.close(timeout=1)
            self.producer = None

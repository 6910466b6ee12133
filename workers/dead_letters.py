"""Dead letters to their Kafka topic: each unreadable record with its reason and where it came from."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from adapters.side_rows import DeadLetterRow
from schemas.feed import MAX_RECORD_BYTES

log = structlog.get_logger(__name__)

#: The topic gets at most this much of a record (the table keeps all of it): an oversize record must
#: not become a message the producer or the topic refuses, which would stop the feed behind it.
MAX_PUBLISHED_BYTES = MAX_RECORD_BYTES


def send_dead_letters(producer: Any, topic: str, source_topic: str, rows: Sequence[DeadLetterRow]) -> None:
    """Send and flush: called before the transaction that stores the rows, so a dead letter is on the
    topic at least once (once more for each failed attempt at its batch), never missing. A message the
    topic refuses for its size is logged and left out: the table has the record."""
    if not rows:
        return
    from kafka.errors import MessageSizeTooLargeError

    sent = []
    for row in rows:
        partition, offset = row.position.split("/")
        headers = [
            ("reason", row.reason.encode()),
            ("source_topic", source_topic.encode()),
            ("source_partition", partition.encode()),
            ("source_offset", offset.encode()),
        ]
        value = row.payload
        if len(value) > MAX_PUBLISHED_BYTES:
            headers.append(("payload_bytes", str(len(value)).encode()))
            value = value[:MAX_PUBLISHED_BYTES]
        try:
            sent.append((row, producer.send(topic, value=value, headers=headers)))
        except MessageSizeTooLargeError as error:
            _refused(topic, row, error)
    producer.flush(timeout=30)
    for row, future in sent:
        if future.failed():
            if isinstance(future.exception, MessageSizeTooLargeError):
                _refused(topic, row, future.exception)
            else:
                raise future.exception


def _refused(topic: str, row: DeadLetterRow, error: Exception) -> None:
    log.warning("feed_dead_letter_refused_by_topic", topic=topic, position=row.position, reason=row.reason,
                error=str(error))


class DeadLetterSender:
    """``send_dead_letters`` to one topic with a producer made at its first use (or by ``producer``):
    a feed worker on PostgreSQL leaves the sending to its writer process, and starts without one."""

    def __init__(self, make_producer: Callable[[], Any], topic: str, source_topic: str) -> None:
        self._make_producer = make_producer
        self.topic, self.source_topic = topic, source_topic

    @functools.cached_property
    def producer(self) -> Any:
        return self._make_producer()

    def __call__(self, rows: Sequence[DeadLetterRow]) -> None:
        if rows:
            send_dead_letters(self.producer, self.topic, self.source_topic, rows)

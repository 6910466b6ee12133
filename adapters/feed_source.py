"""The feed worker's Kafka consumer on librdkafka (confluent-kafka), behind the few kafka-python
consumer calls the worker makes (subscribe with a rebalance listener, poll, seek, commit_async, close).

Why a second client next to kafka-python: the feed worker's throughput is its CPU per record, and
kafka-python decodes record batches in Python (6-9 µs of CPU per record here, measured by
bench/feed_bench.py as "raw kafka-python consumption") where librdkafka decodes them in C on its own
threads (about 1.5 µs). The other consumers (finance results, lag reports) read little and keep
kafka-python.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import confluent_kafka as ck
import structlog

from adapters.kafka_structs import OffsetAndMetadata, RebalanceListener, TopicPartition

log = structlog.get_logger(__name__)

#: How long a batch that is not full waits for records still being fetched.
FILL_WAIT_S = 0.02
_UNSEEN: list[Record] = []  # a partition not met yet in this poll


class Record(NamedTuple):
    """What the worker reads of a consumed record (kafka-python's ConsumerRecord has these too); its
    partition is the key it is polled under."""

    offset: int
    value: bytes | None


class FeedSource:
    """A consumer-group member; the database, not Kafka, holds the offsets that count."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._consumer = ck.Consumer(config, logger=logging.getLogger("kafka"))
        self._listener: RebalanceListener | None = None
        self._assigning: dict[TopicPartition, int] | None = None  # seeks asked for during an assignment
        self._partitions: dict[tuple[str, int], TopicPartition] = {}
        self._assigned: set[TopicPartition] = set()
        self._topics: list[str] | None = None
        self._closed = False

    # --- the group ----------------------------------------------------------------------------------

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        """Join the group for ``topics``. Subscribed already to them (to join while the caller was still
        starting): only the listener is set, before any assignment can reach it (they come in ``poll``)."""
        self._listener = listener
        if self._topics == list(topics):
            return
        self._topics = list(topics)
        self._consumer.subscribe(self._topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)

    def _on_assign(self, consumer: ck.Consumer, partitions: list[ck.TopicPartition]) -> None:
        assigned = [self._tp(p.topic, p.partition) for p in partitions]
        self._assigning = {}
        try:
            if self._listener is not None:
                self._listener.on_partitions_assigned(assigned)
            wanted = self._assigning
        finally:
            self._assigning = None
        # cooperative-sticky: ``partitions`` are the ones added; the others keep flowing meanwhile
        consumer.incremental_assign([ck.TopicPartition(tp.topic, tp.partition, wanted.get(tp, ck.OFFSET_STORED))
                                     for tp in assigned])
        self._assigned.update(assigned)

    def _on_revoke(self, consumer: ck.Consumer, partitions: list[ck.TopicPartition]) -> None:
        revoked = [self._tp(p.topic, p.partition) for p in partitions]
        self._assigned.difference_update(revoked)
        if self._listener is not None:
            self._listener.on_partitions_revoked(revoked)
        consumer.incremental_unassign(partitions)

    # --- records and positions ---------------------------------------------------------------------

    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> dict[TopicPartition, list[Record]]:
        """Up to ``max_records`` records, by partition, in offset order: as soon as the first one is
        there, with what is queued behind it and what arrives within ``FILL_WAIT_S``.

        ``consume(n, timeout)`` alone returns only when it has ``n`` records or the timeout is over,
        so the last, partial batch of a burst would wait the whole timeout before being stored."""
        polled: dict[TopicPartition, list[Record]] = {}
        # By (topic, partition) as the messages give them: one list per partition, looked up per message.
        lists: dict[tuple[str | None, int | None], list[Record] | None] = {}
        for message in self._messages(timeout_ms / 1000, max_records):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise ck.KafkaException(error)
                if error.code() != ck.KafkaError._PARTITION_EOF:
                    log.warning("feed_kafka_error", error=str(error))
                continue
            key = (message.topic(), message.partition())
            records = lists.get(key, _UNSEEN)
            if records is _UNSEEN:
                records = lists[key] = self._records_of(polled, *key)
            offset = message.offset()
            if records is not None and offset is not None:
                records.append(Record(offset, message.value()))
        return polled

    def _records_of(self, polled: dict[TopicPartition, list[Record]], topic: str | None,
                    partition: int | None) -> list[Record] | None:
        """The list a partition's records go to, or None: not a record (only events without an error lack
        a topic or partition), or of a partition fetched before its revocation in the same consume() call."""
        if topic is None or partition is None:
            return None
        tp = self._tp(topic, partition)
        if tp not in self._assigned:
            return None
        return polled.setdefault(tp, [])

    def _messages(self, timeout_s: float, max_records: int) -> list[ck.Message]:
        consume = self._consumer.consume
        messages = consume(num_messages=max_records, timeout=0)
        if not messages:
            messages = consume(num_messages=1, timeout=timeout_s)
        for wait in (0, FILL_WAIT_S):
            if not messages or len(messages) >= max_records:
                break
            messages.extend(consume(num_messages=max_records - len(messages), timeout=wait))
        return messages

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if self._assigning is not None:  # inside an assignment: the offset goes with assign()
            self._assigning[partition] = offset
        elif partition in self._assigned:  # a partition given up meanwhile: its new owner seeks
            self._consumer.seek(ck.TopicPartition(partition.topic, partition.partition, offset))
        else:
            log.info("feed_seek_skipped", topic=partition.topic, partition=partition.partition,
                     reason="no longer assigned")

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.seek(tp, ck.OFFSET_BEGINNING)

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset after the last record of each partition (its high watermark), asked of the broker."""
        return {tp: int(self._consumer.get_watermark_offsets(ck.TopicPartition(tp.topic, tp.partition),
                                                             timeout=10, cached=False)[1])
                for tp in partitions}

    def commit_async(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        """Informational: tools that read the group's committed offsets see the progress."""
        self._consumer.commit(
            offsets=[ck.TopicPartition(tp.topic, tp.partition, meta.offset) for tp, meta in offsets.items()],
            asynchronous=True,
        )

    def close(self, autocommit: bool = False) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def _tp(self, topic: str, partition: int) -> TopicPartition:
        tp = self._partitions.get((topic, partition))
        if tp is None:
            tp = self._partitions[(topic, partition)] = TopicPartition(topic, partition)
        return tp

"""Feed worker: Kafka portal topic -> decisions -> events + every partition's offset, one transaction.

The database is the truth for offsets: on every partition assignment the
consumer seeks to the stored offset + 1. A batch that produces no event
(duplicates, parked records) still advances the stored offsets. Malformed
records go to the dead-letter table (same transaction) and topic (sent and
flushed before the transaction: never lost, once more for each failed attempt at the batch).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from eventsourcing.persistence import IntegrityError
from eventsourcing.persistence import InterfaceError as ESInterfaceError
from eventsourcing.persistence import OperationalError as ESOperationalError
from psycopg import OperationalError as PGOperationalError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from adapters.feed_records import BadRecord, parse_feed_record
from adapters.kafka_structs import OffsetAndMetadata, TopicPartition
from adapters.side_rows import BatchTracking, DeadLetterRow, PositionsStoredAlready
from cashback.app import CashbackApp, DecidedBatch, Intake
from domain.provenance import Channel, Provenance
from workers.feed_writer import WriterProcess, job_of
from workers.offsets import OffsetsBeyondTopic, beyond_end, seek_to_stored, stored_offsets, tracking_name

if TYPE_CHECKING:
    from kafka import KafkaConsumer

    from adapters.feed_source import FeedSource

log = structlog.get_logger(__name__)

TRANSIENT = (PGOperationalError, ESOperationalError, ESInterfaceError, OSError)
#: How long the worker (and its writer) wait for an unreachable database before giving up.
RETRY_FOR_SECONDS = 240.0


@dataclass
class FeedStats:
    batches: int = 0
    records: int = 0
    registered: int = 0
    duplicates: int = 0
    parked: int = 0
    dead_lettered: int = 0
    stale_batches: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    """Records of one poll that are past the stored offsets, read; ``decided`` once handed to the writer."""

    fresh: dict[TopicPartition, list[Any]]
    intakes: list[Intake]
    dead: list[DeadLetterRow]
    decided: DecidedBatch | None = None
    dead_letters_sent: bool = False
    #: how many times each of its partitions had been sought when its records were polled
    sought: dict[TopicPartition, int] = field(default_factory=dict)
    trackings: list[BatchTracking] = field(init=False)
    serials: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.trackings = [BatchTracking(tracking_name(tp.topic, tp.partition), records[-1].offset, records[0].offset)
                          for tp, records in self.fresh.items()]
        self.serials = frozenset(it.request.serial for it in self.intakes)

    @property
    def last_offsets(self) -> dict[int, int]:
        return {tp.partition: records[-1].offset for tp, records in self.fresh.items()}


class _SeekToStored:
    def __init__(self, worker: FeedWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.worker.settle()  # the batch in flight commits before its partitions change hands
        log.info("feed_partitions_revoked", partitions=[p.partition for p in revoked])

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.worker.seek_to_stored(assigned)


class FeedWorker:
    def __init__(
        self,
        app: CashbackApp,
        consumer: FeedSource,
        topic: str,
        *,
        send_dead_letters: Callable[[Sequence[DeadLetterRow]], None] | None = None,
        batch_size: int = 1000,
        poll_timeout_ms: int = 500,
        retry_for_seconds: float = RETRY_FOR_SECONDS,
        on_batch: Callable[[FeedStats], None] | None = None,
        writer: WriterProcess | None = None,
    ) -> None:
        self.app = app
        self.consumer = consumer
        self.topic = topic
        self.send_dead_letters = send_dead_letters
        self.batch_size = batch_size
        self.poll_timeout_ms = poll_timeout_ms
        self.retry_for_seconds = retry_for_seconds
        self.on_batch = on_batch
        self.stats = FeedStats()
        self.writer = writer
        self._in_flight: _Batch | None = None
        # The feed's bulk is devices never seen: decide them without asking the store, until a batch
        # proves otherwise (its transaction fails on the store's uniqueness and is decided again).
        self._assume_new = True
        # Seeks per partition: records polled before a seek of their partition are not stored (below).
        self._sought: dict[TopicPartition, int] = {}

    # --- offsets ----------------------------------------------------------------------

    def stored_offsets(self) -> dict[int, int]:
        return stored_offsets(self.app, self.topic)

    def seek_to_stored(self, partitions: Sequence[TopicPartition]) -> None:
        self.settle()  # positions are read once the batch in flight has committed (or failed)
        stored = self._with_retry(self.stored_offsets)
        self._check_within_topic(partitions, stored)
        for tp in partitions:
            self._sought[tp] = self._sought.get(tp, 0) + 1
        positions = seek_to_stored(self.consumer, partitions, stored)
        log.info("feed_partitions_assigned", topic=self.topic, positions=positions)

    def _check_within_topic(self, partitions: Sequence[TopicPartition], stored: dict[int, int]) -> None:
        try:
            ends = {tp.partition: end for tp, end in self.consumer.end_offsets(list(partitions)).items()}
        except Exception as error:  # the check is a safeguard: a broker slow to answer must not stop the feed
            log.warning("feed_end_offsets_unknown", topic=self.topic, error=str(error))
            return
        if beyond := beyond_end(stored, ends):
            log.error("feed_stored_offsets_beyond_topic", topic=self.topic,
                      partitions={p: {"stored": s, "end": e} for p, (s, e) in beyond.items()})
            raise OffsetsBeyondTopic(self.topic, beyond)

    # --- loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> FeedStats:
        self.consumer.subscribe([self.topic], listener=_SeekToStored(self))
        log.info("feed_worker_started", topic=self.topic, batch_size=self.batch_size)
        try:
            while not stop.is_set():
                # With a batch in flight, no waiting for records: none there, it is reported at once.
                timeout_ms = 0 if self._in_flight is not None else self.poll_timeout_ms
                polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
                if polled:
                    self.submit(polled)
                else:
                    self.settle()
            self.settle()
        finally:
            self.consumer.close(autocommit=False)
            log.info("feed_worker_stopped", **self.stats.__dict__)
        return self.stats

    def submit(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> None:
        """Read and decide a batch while the previous one is being stored, then hand it to the writer.

        The decision reads the store (existing devices, parked records) before the previous batch
        has committed. A batch sharing a serial with it waits for that commit first; anything else
        the decision could not see (another worker, the portal) fails the transaction on the store's
        uniqueness, and the batch is then decided again on the synchronous path (``_redo``)."""
        # With a writer, a record stored already (by another member of the group) fails its batch's
        # transaction (BatchTracking): no query per batch. Without one, the store is asked.
        sought = {tp: self._sought.get(tp, 0) for tp in polled}
        stored = {} if self.writer is not None else self._with_retry(self.stored_offsets)
        if self._in_flight is not None:  # its positions are not committed yet, and lower than ours
            for partition, offset in self._in_flight.last_offsets.items():
                stored[partition] = max(stored.get(partition, -1), offset)
        fresh = _past(polled, stored)
        if not fresh:
            return
        intakes, dead = self._read(fresh)
        batch = _Batch(fresh, intakes, dead, sought=sought)
        if self._in_flight is not None and not batch.serials.isdisjoint(self._in_flight.serials):
            self.settle()
            if self._read_before_a_seek(batch):
                return
        if self.writer is None:
            self._store_now(batch)
            return
        assume_new = self._assume_new
        decided = self._with_retry(lambda: self.app.decide_batch(intakes, assume_new=assume_new))
        if not self.settle():  # decided on a state that did not come true
            self._redo(batch)
            return
        self.writer.submit(job_of(decided.stored, batch.trackings, decided.parked, batch.dead,  # it sends them first
                                  decided.registered, decided.at))
        batch.dead_letters_sent = True
        batch.decided = decided
        self._in_flight = batch

    def settle(self) -> bool:
        """Wait for the batch in flight; report it, or store it again on the synchronous path. True when
        it was stored as decided."""
        batch, self._in_flight = self._in_flight, None
        if batch is None or batch.decided is None or self.writer is None:
            return True
        try:
            self.writer.result()
        except IntegrityError as error:
            stale = isinstance(error, PositionsStoredAlready)  # not a question of new devices
            if batch.decided.existing is None and not stale:  # decided as new devices: some were not
                self._assume_new = False
            log.info("feed_batch_decided_again", error=str(error), assumed_new=batch.decided.existing is None)
            self._redo(batch)
            return False
        if batch.decided.existing == 0:  # the feed brings new devices again: stop asking for each batch
            self._assume_new = True
        self.app.remember(batch.decided)
        self._done(batch, batch.decided.outcomes)
        return True

    def _redo(self, batch: _Batch) -> None:
        """A batch whose transaction failed, decided again against what is stored now."""
        self.app.forget_cached()
        if self._read_before_a_seek(batch):
            return
        fresh = _past(batch.fresh, self._with_retry(self.stored_offsets))
        if fresh:
            intakes, dead = self._read(fresh)
            again = _Batch(fresh, intakes, dead, sought=batch.sought)
            again.dead_letters_sent = batch.dead_letters_sent
            self._store_now(again)

    def _read_before_a_seek(self, batch: _Batch) -> bool:
        """True, and its partitions sought to the stored offsets again, when one of the batch's
        partitions was sought after its records were polled (a batch before it found records stored
        by another member and rewound): storing it would move that partition's position past records
        nobody stored. They are all read again from the stored offsets."""
        if all(self._sought.get(tp, 0) == batch.sought.get(tp, 0) for tp in batch.fresh):
            return False
        log.info("feed_batch_read_again", topic=self.topic, partitions=sorted(tp.partition for tp in batch.fresh))
        self.seek_to_stored(list(batch.fresh))
        return True

    def _store_now(self, batch: _Batch) -> None:
        if not batch.dead_letters_sent:
            self._send_dead_letters(batch.dead)
        try:
            result = self._with_retry(lambda: self.app.register_batch(
                batch.intakes, trackings=batch.trackings, dead_letters=batch.dead))
        except IntegrityError as error:
            # Another worker stored these offsets first (after a rebalance): ours are stale.
            self.stats.stale_batches += 1
            log.warning("feed_stale_batch", error=str(error))
            self.seek_to_stored(list(batch.fresh))
            return
        self._done(batch, result.outcomes)

    def _done(self, batch: _Batch, outcomes: Sequence[Any]) -> None:
        fresh = batch.fresh
        self._account(outcomes, len(batch.dead), sum(len(r) for r in fresh.values()))
        self._commit_informational(fresh)
        for tp, records in fresh.items():
            log.info(
                "feed_batch_committed",
                topic=tp.topic,
                partition=tp.partition,
                first_offset=records[0].offset,
                last_offset=records[-1].offset,
            )
        if self.on_batch:
            self.on_batch(self.stats)

    def _read(self, fresh: Mapping[TopicPartition, Sequence[Any]]) -> tuple[list[Intake], list[DeadLetterRow]]:
        intakes: list[Intake] = []
        dead: list[DeadLetterRow] = []
        now = self.app.now()
        for tp, records in fresh.items():
            at = f"kafka:{tp.topic}/{tp.partition}/"
            for record in records:
                parsed = parse_feed_record(record.value)
                if isinstance(parsed, BadRecord):
                    dead.append(
                        DeadLetterRow(
                            f"kafka:{tp.topic}",
                            f"{tp.partition}/{record.offset}",
                            parsed.reason,
                            record.value or b"",
                            now,
                        )
                    )
                    log.warning(
                        "feed_dead_letter",
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                        reason=parsed.reason,
                    )
                    continue
                # positional: the value objects' keyword form costs more than the rest of the loop
                by = Provenance("portal:" + parsed.customer_no, Channel.FEED, at + str(record.offset))
                intakes.append(Intake(parsed, by, True, (record.value or b"").decode("utf-8", "replace")))
        return intakes, dead

    def _send_dead_letters(self, dead: Sequence[DeadLetterRow]) -> None:
        if dead and self.send_dead_letters is not None:
            self.send_dead_letters(dead)

    def _account(self, outcomes: Sequence[Any], dead: int, records: int) -> None:
        s = self.stats
        s.batches += 1
        s.records += records
        s.dead_lettered += dead
        for outcome in outcomes:
            s.by_kind[outcome.kind] = s.by_kind.get(outcome.kind, 0) + 1
        s.registered = s.by_kind.get("registered", 0)
        s.duplicates = s.by_kind.get("duplicate", 0) + s.by_kind.get("claim_refused", 0)
        s.parked = s.by_kind.get("parked", 0)

    def _commit_informational(self, fresh: Mapping[TopicPartition, Sequence[Any]]) -> None:
        try:
            self.consumer.commit_async(  # informational: the database holds the offsets that count
                {tp: OffsetAndMetadata(records[-1].offset + 1, "", -1) for tp, records in fresh.items()}
            )
        except Exception as error:
            log.info("feed_kafka_commit_skipped", error=str(error))

    def _with_retry(self, fn: Callable[[], Any]) -> Any:
        return retry_transient(fn, self.retry_for_seconds)


def _past(polled: Mapping[TopicPartition, Sequence[Any]], stored: Mapping[int, int]) -> dict[TopicPartition, list[Any]]:
    """The polled records after each partition's stored offset (partitions left with none: dropped)."""
    fresh = {tp: [r for r in records if r.offset > stored.get(tp.partition, -1)] for tp, records in polled.items()}
    return {tp: records for tp, records in fresh.items() if records}


def retry_transient(fn: Callable[[], Any], for_seconds: float = RETRY_FOR_SECONDS) -> Any:
    """``fn()``, again with exponential backoff while the database is unreachable, up to ``for_seconds``."""
    for attempt in Retrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(for_seconds),
        reraise=True,
        before_sleep=lambda rs: log.warning(
            "feed_database_retry",
            attempt=rs.attempt_number,
            error=str(rs.outcome.exception()) if rs.outcome else "",
        ),
    ):
        with attempt:
            return fn()
    return None  # pragma: no cover


def feed_lag(app: CashbackApp, consumer: KafkaConsumer, topic: str) -> list[tuple[int, int, int, int]]:
    """(partition, stored offset, end offset, lag) for every partition of the topic."""
    from kafka import TopicPartition as KafkaTopicPartition

    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [KafkaTopicPartition(topic, p) for p in sorted(partitions)]
    ends = consumer.end_offsets(tps) if tps else {}
    stored = stored_offsets(app, topic)
    rows = []
    for tp in tps:
        done = stored.get(tp.partition, -1)
        end = int(ends.get(tp, 0))
        rows.append((tp.partition, done, end, max(0, end - (done + 1))))
    return rows


def wait(seconds: float) -> None:
    time.sleep(seconds)

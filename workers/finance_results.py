"""Finance results: confirmations and failures from `finance.payout-results.v1`.

Each result is applied with the offset of its partition in one transaction
(the database holds the offsets, as for the feed). Confirmed lines make their
devices PAID; failed lines put their devices back to PAYMENT_PENDING for the
next run. A result for an unknown payout, or a repeated one, is recorded and
changes no money. A malformed result is dead-lettered with its reason.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Tracking
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from pydantic import ValidationError

from adapters.side_rows import DeadLetterRow
from domain.provenance import Channel, Provenance
from schemas.payout import PayoutResultV1
from workers.offsets import seek_to_stored, stored_offsets, tracking_name

log = structlog.get_logger(__name__)


class _Seek(ConsumerRebalanceListener):
    def __init__(self, worker: FinanceResultsWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.worker.seek(assigned)


class FinanceResultsWorker:
    def __init__(self, app: Any, consumer: KafkaConsumer, topic: str) -> None:
        self.app = app
        self.consumer = consumer
        self.topic = topic
        self.counts: dict[str, int] = {}

    def seek(self, partitions: Sequence[TopicPartition]) -> None:
        positions = seek_to_stored(self.consumer, partitions, stored_offsets(self.app, self.topic))
        log.info("finance_results_assigned", topic=self.topic, positions=positions)

    def run(self, stop: threading.Event) -> dict[str, int]:
        self.consumer.subscribe([self.topic], listener=_Seek(self))
        try:
            while not stop.is_set():
                for tp, records in self.consumer.poll(timeout_ms=500, max_records=200).items():
                    for record in records:
                        self.apply(tp, record)
        finally:
            self.consumer.close(autocommit=False)
        return self.counts

    def apply(self, tp: TopicPartition, record: Any) -> str:
        stored = stored_offsets(self.app, tp.topic).get(tp.partition, -1)
        if record.offset <= stored:
            return "already_applied"
        tracking = [Tracking(tracking_name(tp.topic, tp.partition), record.offset)]
        source = f"kafka:{tp.topic}/{tp.partition}/{record.offset}"
        try:
            result = PayoutResultV1.model_validate(json.loads(record.value or b"null"))
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError, TypeError) as error:
            reason = f"bad payout result: {str(error)[:500]}"
            self.app.save(trackings=tracking, dead_letters=[
                DeadLetterRow(f"kafka:{tp.topic}", f"{tp.partition}/{record.offset}", reason, record.value or b"",
                              self.app.now())])
            log.warning("finance_result_dead_letter", topic=tp.topic, partition=tp.partition, offset=record.offset,
                        reason=reason)
            return self._count("dead_lettered")
        by = Provenance(actor="finance", channel=Channel.FINANCE, source=source)
        try:
            outcome = self.app.settle_payout(result.payout_id, result.result, by, reference=result.reference,
                                             reason=result.reason, serials=result.serials, trackings=tracking)
        except IntegrityError as error:  # another worker stored this offset first
            log.warning("finance_result_stale", error=str(error), offset=record.offset)
            return "stale"
        log.info("finance_result", payout_id=str(result.payout_id), result=result.result, outcome=outcome,
                 topic=tp.topic, partition=tp.partition, offset=record.offset)
        return self._count(outcome)

    def _count(self, key: str) -> str:
        self.counts[key] = self.counts.get(key, 0) + 1
        return key

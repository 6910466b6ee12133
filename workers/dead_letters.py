"""Dead letters to their Kafka topic: each unreadable record with its reason and where it came from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.side_rows import DeadLetterRow


def send_dead_letters(producer: Any, topic: str, source_topic: str, rows: Sequence[DeadLetterRow]) -> None:
    """Send and flush: called before the transaction that stores the rows, so a dead letter is on the
    topic at worst twice (the transaction failed after), never missing."""
    if not rows:
        return
    for row in rows:
        partition, offset = row.position.split("/")
        producer.send(
            topic,
            value=row.payload,
            headers=[
                ("reason", row.reason.encode()),
                ("source_topic", source_topic.encode()),
                ("source_partition", partition.encode()),
                ("source_offset", offset.encode()),
            ],
        )
    producer.flush(timeout=30)

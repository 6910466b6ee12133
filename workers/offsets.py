"""Kafka offsets kept in the database (the truth), next to the events they produced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the CLI imports this module for its error without loading Kafka
    from kafka import KafkaConsumer, TopicPartition


def tracking_name(topic: str, partition: int) -> str:
    return f"kafka:{topic}:{partition}"


def tracking_prefix(topic: str) -> str:
    return f"kafka:{topic}:"


def stored_offsets(app: Any, topic: str) -> dict[int, int]:
    """partition -> last offset whose effects are in the database."""
    prefix = tracking_prefix(topic)
    return {int(name.rsplit(":", 1)[1]): pos for name, pos in app.recorder.trackings(prefix).items()}


class OffsetsBeyondTopic(RuntimeError):
    """The database has consumed further than the topic holds: the topic was deleted and made again (or
    truncated). Seeking there would skip every new record as already consumed."""

    def __init__(self, topic: str, beyond: dict[int, tuple[int, int]]) -> None:
        self.topic, self.beyond = topic, beyond
        parts = ", ".join(f"partition {p}: stored offset {stored}, topic ends at {end}"
                          for p, (stored, end) in sorted(beyond.items()))
        super().__init__(
            f"topic {topic}: the database has consumed past the end of the topic ({parts}); it was deleted and "
            "made again, or truncated. Its new records would be skipped as already consumed. "
            "If the topic is new, `cashback feed reset-offsets --yes` forgets the stored positions: "
            "registrations already stored are recognised as duplicates, none is doubled."
        )


def beyond_end(stored: dict[int, int], ends: dict[int, int]) -> dict[int, tuple[int, int]]:
    """partition -> (stored offset, end offset) where the stored offset is at or after the end."""
    return {p: (stored[p], end) for p, end in ends.items() if p in stored and stored[p] + 1 > end}


def seek_to_stored(
    consumer: KafkaConsumer, partitions: Sequence[TopicPartition], stored: dict[int, int]
) -> dict[int, int]:
    """Seek each partition to the stored offset + 1 (or the beginning); returns the positions."""
    positions = {}
    for tp in partitions:
        if tp.partition in stored:
            consumer.seek(tp, stored[tp.partition] + 1)
            positions[tp.partition] = stored[tp.partition] + 1
        else:
            consumer.seek_to_beginning(tp)
            positions[tp.partition] = 0
    return positions

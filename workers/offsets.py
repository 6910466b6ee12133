"""Kafka offsets kept in the database (the truth), next to the events they produced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def tracking_name(topic: str, partition: int) -> str:
    return f"kafka:{topic}:{partition}"


def stored_offsets(app: Any, topic: str) -> dict[int, int]:
    """partition -> last offset whose effects are in the database."""
    prefix = f"kafka:{topic}:"
    return {int(name.rsplit(":", 1)[1]): pos for name, pos in app.recorder.trackings(prefix).items()}


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

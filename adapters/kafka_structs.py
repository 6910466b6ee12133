"""The few Kafka value types the feed worker passes around, without a client library behind them.

They have kafka-python's names and fields (a kafka-python ``TopicPartition`` compares and hashes equal
to this one: both are plain named tuples), so the worker's offset logic reads the same whichever
client feeds it; importing kafka-python only for them cost the worker's start 65 ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class OffsetAndMetadata(NamedTuple):
    offset: int
    metadata: str
    leader_epoch: int


class RebalanceListener(Protocol):
    """Told of the partitions a consumer-group member gives up and receives."""

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None: ...

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None: ...

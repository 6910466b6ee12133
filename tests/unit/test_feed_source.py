"""The feed worker's consumer wrapper: what it does with partitions it no longer holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import TopicPartition

from adapters.feed_source import FeedSource
from adapters.kafka_clients import feed_source


@pytest.fixture
def source() -> Iterator[FeedSource]:
    made = feed_source("127.0.0.1:9", "cashback-unit")  # never contacted: nothing here needs a broker
    yield made
    made.close()


def test_a_seek_of_a_partition_given_up_is_skipped_not_fatal(source: FeedSource) -> None:
    # After a stale batch the worker seeks its partitions back; one revoked meanwhile belongs to another.
    source.seek(TopicPartition("portal.device-registrations.v1", 3), 41)


def test_seeks_asked_during_an_assignment_go_with_it(source: FeedSource) -> None:
    class Listener:
        def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
            for tp in assigned:
                source.seek(tp, 100 + tp.partition)

        def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
            pass

    assigned: list[tuple[int, int]] = []

    class Consumer:
        def incremental_assign(self, partitions: list) -> None:  # type: ignore[type-arg]
            assigned.extend((p.partition, p.offset) for p in partitions)

    import confluent_kafka as ck

    source._listener = Listener()  # type: ignore[assignment]
    source._on_assign(Consumer(), [ck.TopicPartition("t", 0), ck.TopicPartition("t", 2)])  # type: ignore[arg-type]
    assert assigned == [(0, 100), (2, 102)]
    source.seek(TopicPartition("t", 5), 1)  # not assigned: skipped

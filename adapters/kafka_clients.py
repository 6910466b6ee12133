"""kafka-python clients configured the way the workers need them."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

if TYPE_CHECKING:  # librdkafka is loaded by the feed worker only
    from adapters.feed_source import FeedSource


def feed_consumer(bootstrap: str, group: str, max_records: int, client_id: str = "cashback-feed") -> KafkaConsumer:
    """Offsets live in the database; Kafka's committed offsets are informational only."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
        max_poll_interval_ms=300_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=500,  # a joining worker gets its partitions within a second, not three
        fetch_max_bytes=52_428_800,
        max_partition_fetch_bytes=4_194_304,
    )


def feed_source(bootstrap: str, group: str, client_id: str = "cashback-feed") -> FeedSource:
    """The feed worker's consumer (adapters/feed_source.py): librdkafka, offsets in the database."""
    from adapters.feed_source import FeedSource

    return FeedSource({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 500,  # a joining worker gets its partitions within a second
        "max.poll.interval.ms": 300_000,
        # A worker joining or leaving moves only the partitions that change hands; the others keep
        # flowing (the eager protocol stops every member until the group is balanced again).
        "partition.assignment.strategy": "cooperative-sticky",
        # records fetched ahead: about 16 MiB (one fetch response may overshoot the queue), whatever the lag
        "queued.max.messages.kbytes": 16_384,
        "fetch.max.bytes": 16_777_216,
        "max.partition.fetch.bytes": 4_194_304,
    })


def reliable_producer(bootstrap: str, client_id: str, **extra: Any) -> KafkaProducer:
    """acks=all and idempotence: a retried send is not written twice by the broker."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        retries=2_147_483_647,
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        **extra,
    )


def ensure_topics(bootstrap: str, topics: dict[str, int], timeout_ms: int = 10_000) -> None:
    """Create topics (name -> partitions) that do not exist yet."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cashback-admin", bootstrap_timeout_ms=timeout_ms)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(name, partitions, 1) for name, partitions in topics.items() if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()

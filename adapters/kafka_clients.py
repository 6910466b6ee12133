"""Kafka clients configured the way the workers need them: kafka-python for the payouts, the finance
results and the lag reports; librdkafka (confluent-kafka) for the feed worker's consumer and for
creating topics. Each library is imported by the function that needs it: the feed worker's start does
not pay for kafka-python."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafka import KafkaConsumer, KafkaProducer

    from adapters.feed_source import FeedSource


def feed_consumer(bootstrap: str, group: str, max_records: int, client_id: str = "cashback-feed") -> KafkaConsumer:
    """Offsets live in the database; Kafka's committed offsets are informational only."""
    from kafka import KafkaConsumer

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
    from kafka import KafkaProducer

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


class TopicsUnavailable(RuntimeError):
    """The broker could not tell which topics exist, or could not create the missing ones."""


def ensure_topics(bootstrap: str, topics: dict[str, int], timeout_ms: int = 10_000) -> None:
    """Create topics (name -> partitions) that do not exist yet. Described, not listed: a metadata
    request for one topic may create it with the broker's default partitions (auto.create.topics.enable),
    and the list of a whole cluster can be long."""
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "cashback-admin"},
                        logger=logging.getLogger("kafka"))
    timeout = timeout_ms / 1000
    try:
        missing = []
        described = admin.describe_topics(ck.TopicCollection(list(topics)), request_timeout=timeout)
        for name, future in described.items():
            try:
                future.result()
            except ck.KafkaException as error:
                if error.args[0].code() != ck.KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                missing.append(NewTopic(name, topics[name], 1))
        for name, future in (admin.create_topics(missing, request_timeout=timeout).items() if missing else ()):
            try:
                future.result()
            except ck.KafkaException as error:
                if error.args[0].code() != ck.KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TopicsUnavailable(f"topic {name} could not be created: {error.args[0].str()}") from None
    except ck.KafkaException as error:
        raise TopicsUnavailable(f"Kafka at {bootstrap} did not answer: {error.args[0].str()}") from None

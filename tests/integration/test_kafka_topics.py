"""Topics the commands make for themselves (adapters/kafka_clients.ensure_topics) on the real broker."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from adapters.kafka_clients import TopicsUnavailable, ensure_topics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def names(admin: AdminClient) -> Iterator[list[str]]:
    """Topic names of the test, deleted at its end."""
    made: list[str] = []
    yield made
    for future in admin.delete_topics(made).values() if made else ():
        with contextlib.suppress(Exception):  # one that was never made
            future.result()


def partitions(admin: AdminClient, name: str) -> int | None:
    topic = admin.list_topics(timeout=10).topics.get(name)
    return len(topic.partitions) if topic is not None and topic.error is None else None


def test_missing_topics_are_made_with_their_partitions_and_existing_ones_left_alone(
    kafka_bootstrap: str, admin: AdminClient, names: list[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    feed, dlq = f"topics-{tag}", f"topics-{tag}.dlq"
    names += [feed, dlq]
    ensure_topics(kafka_bootstrap, {feed: 1})
    ensure_topics(kafka_bootstrap, {feed: 4, dlq: 3})  # the feed topic exists: not made again with 4
    assert partitions(admin, feed) == 1
    assert partitions(admin, dlq) == 3
    ensure_topics(kafka_bootstrap, {feed: 4, dlq: 3})  # nothing to do
    assert (partitions(admin, feed), partitions(admin, dlq)) == (1, 3)


def test_looking_for_a_topic_does_not_make_it(kafka_bootstrap: str, admin: AdminClient, names: list[str]) -> None:
    """The broker here creates topics on a metadata request (auto.create.topics.enable): asking whether
    a topic exists must not be such a request, or it would be made with the broker's default partitions."""
    name = f"topics-{uuid.uuid4().hex[:8]}"
    names.append(name)
    ensure_topics(kafka_bootstrap, {name: 2})
    assert partitions(admin, name) == 2


def test_an_unreachable_broker_is_one_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(TopicsUnavailable, match=re.escape("127.0.0.1:1 did not answer")):
        ensure_topics("127.0.0.1:1", {"anything": 1}, timeout_ms=1_000)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_feed_worker_exits_3_with_a_message_when_kafka_does_not_answer(
    tmp_path: Path, store: str, pg_dsn: str
) -> None:
    """On PostgreSQL its writer process is still trying the broker too: it must not hold the exit."""
    env = {
        "PATH": "/usr/bin:/bin",
        "CASHBACK_STORE": store,
        "CASHBACK_PG_DSN": pg_dsn,
        "CASHBACK_PG_SCHEMA": f"t_{uuid.uuid4().hex[:10]}",
        "CASHBACK_DATA_DIR": str(tmp_path / "data"),
        "CASHBACK_CAMPAIGN_FILE": str(ROOT / "examples" / "campaign.toml"),
        "CASHBACK_CATALOG_FILE": str(ROOT / "examples" / "catalog.csv"),
        "CASHBACK_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "cashback.cli", "worker", "feed"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:  # made by the writer, if it got that far
            conn.execute(f'DROP SCHEMA IF EXISTS "{env["CASHBACK_PG_SCHEMA"]}" CASCADE')
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started < 25  # the broker is given 10 s
    assert "Kafka at 127.0.0.1:1 did not answer" in done.stderr
    assert "is the broker up" in done.stderr
    assert "Traceback" not in done.stderr

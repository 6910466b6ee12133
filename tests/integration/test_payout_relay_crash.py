"""The payout relay's contract with finance, forced on the real broker and PostgreSQL: a crash after
Kafka acknowledged but before the position was saved republishes the same payouts with the same
event ids (finance de-duplicates on them); kill -9 at random moments of both payout workers changes
no outcome; the payment run's --as-of."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.integration.conftest import COMPANIES, ROOT, World

pytestmark = pytest.mark.integration


def _register(world: World, serials: list[str], name: str = "feed", **overrides: Any) -> None:
    path = world.tmp / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(world.record(s, COMPANIES[i % len(COMPANIES)], **overrides))
                              for i, s in enumerate(serials)))
    world.cli("ingest", "feed", str(path))


def _events(world: World, kind: str) -> list[dict]:
    rows = world.sql("SELECT originator_id, state FROM cashback_events WHERE topic LIKE %s", (f"%{kind}",))
    return [{"originator_id": str(r[0]), **json.loads(bytes(r[1]))} for r in rows]


def _on_topic(world: World) -> list[Any]:
    consumer = KafkaConsumer(world.env["CASHBACK_PAYOUT_TOPIC"], bootstrap_servers=world.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=4000)
    messages = list(consumer)
    consumer.close()
    return messages


class CrashAfterAck(Exception):
    pass


def test_a_crash_after_kafka_acknowledged_republishes_the_same_payouts_with_the_same_ids(world: World) -> None:
    from adapters.kafka_clients import ensure_topics, reliable_producer
    from workers.payout_relay import PayoutRelay

    _register(world, world.serials[:80])
    world.cli("payment-run")
    topic = world.env["CASHBACK_PAYOUT_TOPIC"]

    class DiesBeforeSavingItsPosition(PayoutRelay):
        def _save_position(self, expected: int, new: int) -> None:
            raise CrashAfterAck  # the process dies here: Kafka has the messages, the database not the position

    ensure_topics(world.bootstrap, {topic: 4})
    eng = world.engine()
    try:
        relay = DiesBeforeSavingItsPosition(eng.app, eng.read_db, reliable_producer(world.bootstrap, "test-relay"),
                                            topic)
        with pytest.raises(CrashAfterAck):
            relay.run_once()
        assert relay.position() == 0
        relay.producer.close()  # type: ignore[union-attr]
    finally:
        eng.close()
    first = _on_topic(world)
    assert len(first) == len(COMPANIES)

    worker = world.start_worker("worker", "payouts", name="relay")  # the restarted relay
    world.wait_for(lambda: len(_on_topic(world)) == 2 * len(COMPANIES), what="the republication")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    messages = _on_topic(world)
    by_id: dict[str, list[Any]] = {}
    for m in messages:
        body = json.loads(m.value)
        assert dict(m.headers)["event_id"].decode() == body["event_id"]
        assert m.key.decode() == body["customer_no"]  # key = company: one company's payouts stay in order
        by_id.setdefault(body["event_id"], []).append(m.value)
    assert len(by_id) == len(COMPANIES)
    assert all(len(values) == 2 and values[0] == values[1] for values in by_id.values())  # byte for byte

    finance = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "finance_consumer.py"), "--bootstrap", world.bootstrap,
         "--payouts-topic", topic, "--results-topic", world.env["CASHBACK_RESULTS_TOPIC"],
         "--seen", str(world.tmp / "seen.json"), "--idle-ms", "3000"],
        capture_output=True, text=True, timeout=120, check=True)
    assert f"payouts: {len(COMPANIES)} new, {len(COMPANIES)} repeats skipped" in finance.stdout


def _kill_at_random_moments(world: World, args: tuple[str, ...], name: str, done: Any, rng: random.Random) -> int:
    kills = 0
    for _ in range(8):
        proc = world.start_worker(*args, name=name)
        time.sleep(rng.uniform(0.8, 2.5))  # start-up takes about a second: some kills land mid-work
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
        if done():
            break
    world.start_worker(*args, name=name)
    return kills


def test_kill_9_at_random_moments_of_both_payout_workers_pays_each_device_once(world: World) -> None:
    seed = int(os.environ.get("CASHBACK_TEST_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"kill moments seed: CASHBACK_TEST_SEED={seed}")
    serials = world.serials[:400]
    for run in range(10):  # ten payment runs: forty payouts to publish and settle
        _register(world, serials[run * 40:(run + 1) * 40], name=f"feed-{run}")
        world.cli("payment-run")
    issued = {e["originator_id"] for e in _events(world, "Payout.Issued")}
    assert len(issued) == 10 * len(COMPANIES)

    _kill_at_random_moments(world, ("worker", "payouts"), "relay",
                            lambda: {json.loads(m.value)["payout_id"] for m in _on_topic(world)} == issued, rng)
    world.wait_for(lambda: {json.loads(m.value)["payout_id"] for m in _on_topic(world)} == issued,
                   timeout=180, what="every payout published")
    contents: dict[str, bytes] = {}
    for m in _on_topic(world):
        body = json.loads(m.value)
        assert contents.setdefault(body["event_id"], m.value) == m.value, "a republished payout changed"

    from adapters.kafka_clients import ensure_topics

    results_topic = world.env["CASHBACK_RESULTS_TOPIC"]
    ensure_topics(world.bootstrap, {results_topic: 1})
    producer = KafkaProducer(bootstrap_servers=world.bootstrap, acks="all")
    for pid in sorted(issued) * 2:  # finance answers every payout twice
        producer.send(results_topic, value=json.dumps({"schema_version": 1, "message_type": "payout_result",
                                                       "payout_id": pid, "result": "confirmed"}).encode())
    producer.flush()
    producer.close()
    _kill_at_random_moments(world, ("worker", "finance-results"), "results",
                            lambda: len(_events(world, "DeviceRegistration.Paid")) == len(serials), rng)
    world.wait_for(lambda: len(_events(world, "DeviceRegistration.Paid")) == len(serials), timeout=180,
                   what="every device paid")
    stored = lambda: world.sql(  # noqa: E731
        "SELECT COALESCE(SUM(notification_id + 1), 0) FROM cashback_tracking WHERE application_name LIKE %s",
        (f"kafka:{results_topic}:%",))[0][0]
    world.wait_for(lambda: stored() == 2 * len(issued), what="every result read")
    paid = Counter(e["originator_id"] for e in _events(world, "DeviceRegistration.Paid"))
    assert len(paid) == len(serials) and max(paid.values()) == 1
    confirmed = Counter(e["originator_id"] for e in _events(world, "Payout.Confirmed"))
    assert set(confirmed) == issued and max(confirmed.values()) == 1


def test_payment_run_as_of_pays_only_what_was_payable_by_then(world: World) -> None:
    early, late = world.serials[:8], world.serials[8:16]
    _register(world, early, name="early")
    later = subprocess.run(
        [sys.executable, "-m", "cashback.cli", "--now", "2026-12-03T10:00:00+01:00", "ingest", "feed",
         str(_write(world, "late", late))], env=world.env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert "registered:     8" in later.stdout
    run = subprocess.run(
        [sys.executable, "-m", "cashback.cli", "--now", "2026-12-04T10:00:00+01:00", "payment-run",
         "--as-of", "2026-12-02"], env=world.env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert f"devices: {len(early)}" in run.stdout
    paid_lines = {line["serial"] for e in _events(world, "Payout.Issued") for line in e["lines"]}
    assert paid_lines == set(early)


def _write(world: World, name: str, serials: list[str]) -> Any:
    path = world.tmp / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(world.record(s, COMPANIES[i % len(COMPANIES)]))
                              for i, s in enumerate(serials)))
    return path

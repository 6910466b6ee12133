"""Payment runs and payouts to finance over the real Kafka broker: paid exactly once, by doing it."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.integration.conftest import COMPANIES, NOW, ROOT, World

pytestmark = pytest.mark.integration


def _register(world: World, n: int) -> list[str]:
    path = world.tmp / "feed.jsonl"
    serials = world.serials[:n]
    path.write_text(
        "\n".join(json.dumps(world.record(s, COMPANIES[i % len(COMPANIES)])) for i, s in enumerate(serials))
    )
    world.cli("ingest", "feed", str(path))
    return serials


def _events(world: World, kind: str) -> list[dict]:
    rows = world.sql("SELECT originator_id, state FROM cashback_events WHERE topic LIKE %s", (f"%{kind}",))
    return [{"originator_id": str(r[0]), **json.loads(bytes(r[1]))} for r in rows]


def _payouts_on_topic(world: World) -> list[tuple[dict, dict]]:
    consumer = KafkaConsumer(
        world.env["CASHBACK_PAYOUT_TOPIC"],
        bootstrap_servers=world.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=4000,
    )
    messages = [(json.loads(m.value), {k: v.decode() for k, v in m.headers}) for m in consumer]
    consumer.close()
    return messages


def _publish_results(world: World, results: list[dict]) -> None:
    from adapters.kafka_clients import ensure_topics

    ensure_topics(world.bootstrap, {world.env["CASHBACK_RESULTS_TOPIC"]: 1})
    producer = KafkaProducer(bootstrap_servers=world.bootstrap, acks="all")
    for result in results:
        producer.send(world.env["CASHBACK_RESULTS_TOPIC"], value=json.dumps(result).encode())
    producer.flush()
    producer.close()


def _result(payout_id: str, result: str = "confirmed", **extra: object) -> dict:
    return {"schema_version": 1, "message_type": "payout_result", "payout_id": payout_id, "result": result, **extra}


def test_two_payment_runs_at_the_same_moment_never_pay_a_device_twice(world: World) -> None:
    serials = _register(world, 3000)
    cmd = [sys.executable, "-m", "cashback.cli", "--now", NOW, "payment-run"]
    runs = [
        subprocess.Popen(cmd, env=world.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert all(r.returncode == 0 for r in runs), outputs
    added = _events(world, "DeviceRegistration.AddedToPayout")
    per_device = Counter(e["originator_id"] for e in added)
    assert len(per_device) == len(serials)
    assert max(per_device.values()) == 1
    issued = _events(world, "Payout.Issued")
    lines = [line["serial"] for e in issued for line in e["lines"]]
    assert sorted(lines) == sorted(serials)
    for payout in issued:
        assert payout["total_cents"] == sum(line["amount_cents"] for line in payout["lines"])


def test_a_device_goes_from_payment_pending_to_paid_through_kafka(world: World) -> None:
    serials = _register(world, 200)
    world.cli("payment-run")
    world.start_worker("worker", "payouts", name="relay")
    world.wait_for(lambda: len(_payouts_on_topic(world)) == len(COMPANIES), what="payouts on the finance topic")
    messages = _payouts_on_topic(world)
    for payout, headers in messages:
        assert headers["event_id"] == payout["event_id"]
        assert payout["currency"] == "EUR" and payout["total_cents"] == sum(x["amount_cents"] for x in payout["lines"])
    finance = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "finance_consumer.py"),
            "--bootstrap",
            world.bootstrap,
            "--payouts-topic",
            world.env["CASHBACK_PAYOUT_TOPIC"],
            "--results-topic",
            world.env["CASHBACK_RESULTS_TOPIC"],
            "--seen",
            str(world.tmp / "seen.json"),
            "--confirm",
            "--idle-ms",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "payouts: 4 new" in finance.stdout and "confirmed: 4 payouts" in finance.stdout
    world.start_worker("worker", "finance-results", name="results")
    world.wait_for(lambda: len(_events(world, "DeviceRegistration.Paid")) == len(serials), what="devices paid")
    status = json.loads(world.cli("status", "--company", COMPANIES[0], "--format", "json", "--limit", "500").stdout)
    assert {r["status"] for r in status["rows"]} == {"PAID"}
    assert status["rows"][0]["label"] == "Appareil enregistré – paiement effectué"
    again = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "finance_consumer.py"),
            "--bootstrap",
            world.bootstrap,
            "--payouts-topic",
            world.env["CASHBACK_PAYOUT_TOPIC"],
            "--results-topic",
            world.env["CASHBACK_RESULTS_TOPIC"],
            "--seen",
            str(world.tmp / "seen.json"),
            "--group",
            "finance-replay",
            "--idle-ms",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "payouts: 0 new, 4 repeats skipped" in again.stdout


def test_failed_payout_returns_devices_to_the_queue_and_repeats_change_no_money(world: World) -> None:
    _register(world, 40)
    world.cli("payment-run")
    issued = _events(world, "Payout.Issued")
    failed, confirmed = issued[0], issued[1]
    _publish_results(
        world,
        [
            _result(failed["originator_id"], "failed", reason="IBAN invalide"),
            _result(confirmed["originator_id"]),
            _result(confirmed["originator_id"]),  # a second confirmation
            _result("00000000-0000-0000-0000-000000000001"),  # an unknown payout
            {"schema_version": 1, "garbage": True},
        ],
    )
    world.start_worker("worker", "finance-results", name="results")
    topic = world.env["CASHBACK_RESULTS_TOPIC"]
    world.wait_for(
        lambda: (
            world.sql(
                "SELECT COALESCE(SUM(notification_id + 1), 0) FROM cashback_tracking WHERE application_name LIKE %s",
                (f"kafka:{topic}:%",),
            )[0][0]
            == 5
        ),
        what="all five results",
    )
    assert len(_events(world, "DeviceRegistration.Paid")) == len(confirmed["lines"])
    assert len(_events(world, "DeviceRegistration.PayoutFailed")) == len(failed["lines"])
    assert len(_events(world, "Payout.ResultIgnored")) == 1
    reasons = " | ".join(r[0] for r in world.sql("SELECT reason FROM cashback_dead_letters"))
    assert "unknown payout" in reasons and "bad payout result" in reasons
    second = world.cli("payment-run").stdout
    assert f"devices: {len(failed['lines'])}" in second  # the failed lines are paid by the next run, once


def _kill_randomly(world: World, args: tuple[str, ...], name: str, done, rounds: int = 4) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    for _ in range(rounds):
        proc = world.start_worker(*args, name=name)
        time.sleep(rng.uniform(1.5, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if done():
            break
    world.start_worker(*args, name=name)


def test_kill_9_of_the_relay_and_of_the_results_worker_changes_no_outcome(world: World) -> None:
    serials = _register(world, 600)
    world.cli("payment-run")
    issued = {e["originator_id"] for e in _events(world, "Payout.Issued")}
    _kill_randomly(world, ("worker", "payouts"), "relay", lambda: len(_payouts_on_topic(world)) >= len(issued))
    world.wait_for(lambda: {p["payout_id"] for p, _ in _payouts_on_topic(world)} == issued, what="every payout")
    published = _payouts_on_topic(world)
    by_event = {}
    for payout, _ in published:  # a republished payout carries the same event id and the same content
        by_event.setdefault(payout["event_id"], payout)
        assert by_event[payout["event_id"]] == payout
    assert len(by_event) == len(issued)
    _publish_results(world, [_result(pid) for pid in sorted(issued)] * 2)  # finance even answers twice
    _kill_randomly(
        world,
        ("worker", "finance-results"),
        "results",
        lambda: len(_events(world, "DeviceRegistration.Paid")) == len(serials),
    )
    world.wait_for(lambda: len(_events(world, "DeviceRegistration.Paid")) == len(serials), what="every device paid")
    time.sleep(2)
    paid = Counter(e["originator_id"] for e in _events(world, "DeviceRegistration.Paid"))
    assert len(paid) == len(serials) and max(paid.values()) == 1


def test_a_kafka_outage_delays_payouts_and_loses_none(world: World) -> None:
    _register(world, 100)
    services = str(ROOT / "scripts" / "services.sh")
    subprocess.run([services, "kafka-stop"], check=True, timeout=120)
    try:
        world.cli("payment-run")  # the payment run needs the database only
        world.start_worker("worker", "payouts", name="relay")
        world.wait_for(
            lambda: "payout_relay_retry" in Path(world.tmp / "relay-0.log").read_text(),
            timeout=60,
            what="the relay to notice the outage and wait",
        )
    finally:
        subprocess.run([services, "kafka-start"], check=True, timeout=180)
    issued = {e["originator_id"] for e in _events(world, "Payout.Issued")}
    world.wait_for(
        lambda: {p["payout_id"] for p, _ in _payouts_on_topic(world)} == issued,
        timeout=180,
        what="the relay to deliver after the outage",
    )

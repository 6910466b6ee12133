"""The portal feed on the real Kafka broker and PostgreSQL: exactly once, by doing it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaConsumer

from tests.integration.conftest import COMPANIES, ROOT, World

pytestmark = pytest.mark.integration




def _caught_up(world: World, produced: int) -> bool:
    return world.stored_feed_records() >= produced


def test_a_record_from_a_plain_kafka_client_shows_in_the_overview(world: World) -> None:
    serial = world.serials[0]
    record = {
        **world.record(serial, COMPANIES[0]),
        "serial": f" {serial[:4]}-{serial[4:]} ",
        "device_type": "sb5.0-1av-41",
    }
    world.produce([record], keys=[serial])
    world.start_worker("worker", "feed", "--batch-size", "100")
    world.wait_for(lambda: _caught_up(world, 1), what="the record to be consumed")
    rows = json.loads(world.cli("status", "--company", COMPANIES[0], "--format", "json").stdout)["rows"]
    assert [(r["serial"], r["device_type"], r["status"], r["amount_cents"]) for r in rows] == [
        (serial, "SB5.0-1AV-41", "PAYMENT_PENDING", 7500)
    ]
    assert rows[0]["label"] == "Enregistrement réussi, paiement en attente"


def test_records_delivered_twice_register_once(world: World) -> None:
    records = world.feed(400)
    world.produce(records)
    worker = world.start_worker("worker", "feed", "--batch-size", "150")
    world.wait_for(lambda: _caught_up(world, 400), what="first delivery")
    world.produce(records)  # the portal publishes the same devices again
    world.wait_for(lambda: _caught_up(world, 800), what="second delivery")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    # A consumer seeking back: forget the stored offsets, so every record is delivered again.
    world.sql("DELETE FROM cashback_tracking WHERE application_name LIKE %s", (f"kafka:{world.topic}:%",))
    world.start_worker("worker", "feed", "--batch-size", "150")
    world.wait_for(lambda: _caught_up(world, 800), what="redelivery after seeking back")
    serials = world.registered_serials()
    assert len(serials) == 400
    assert Counter(serials).most_common(1)[0][1] == 1


def test_devices_registered_elsewhere_are_refused_among_new_ones(world: World) -> None:
    # The worker decides feed batches as new devices until a batch proves otherwise.
    known = world.serials[:5]
    elsewhere = world.tmp / "earlier.jsonl"
    elsewhere.write_text("".join(json.dumps(world.record(s, COMPANIES[0])) + "\n" for s in known))
    world.cli("ingest", "feed", str(elsewhere))
    records = [world.record(s, COMPANIES[1]) for s in world.serials[:600]]  # 5 claims among 595 new devices
    world.produce(records)
    worker = world.start_worker("worker", "feed", "--batch-size", "200")
    world.wait_for(lambda: _caught_up(world, 600), what="the feed to be stored")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    serials = world.registered_serials()
    assert len(serials) == 600 and len(set(serials)) == 600
    refused = world.sql("SELECT state FROM cashback_events WHERE topic LIKE %s", ("%DeviceRegistration.ClaimRefused",))
    assert sorted(json.loads(bytes(r[0]))["customer_no"] for r in refused) == [COMPANIES[1]] * 5
    owners = world.sql("SELECT state FROM cashback_events WHERE topic LIKE %s AND originator_version = 1",
                       ("%DeviceRegistration.Registered",))
    by_serial = {json.loads(bytes(r[0]))["serial"]: json.loads(bytes(r[0]))["customer_no"] for r in owners}
    assert {by_serial[s] for s in known} == {COMPANIES[0]}
    assert {by_serial[s] for s in world.serials[5:600]} == {COMPANIES[1]}


def test_kill_9_in_the_middle_of_a_large_batch_loses_and_doubles_nothing(world: World) -> None:
    n = 30000
    world.produce(world.feed(n))
    worker = world.start_worker("worker", "feed", "--batch-size", "2000")
    world.wait_for(lambda: 0 < world.stored_feed_records() < n, timeout=120, what="some progress", interval=0.02)
    writers = _children(worker.pid)  # the process storing the batches (workers/feed_writer.py)
    assert writers, "the worker stores its batches from a child process"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    world.wait_for(lambda: not any(_running(pid) for pid in writers), timeout=30,
                   what="the writer to end with its parent")  # its last transaction committed or rolled back
    progress_at_kill = world.stored_feed_records()
    assert progress_at_kill < n, "the worker finished before it could be killed"
    world.start_worker("worker", "feed", "--batch-size", "2000")
    world.wait_for(lambda: _caught_up(world, n), timeout=180, what="the restarted worker to finish")
    serials = world.registered_serials()
    assert len(serials) == n
    assert set(serials) == {world.serials[i] for i in range(n)}


def test_postgres_stopped_and_restarted_while_the_worker_runs(world: World) -> None:
    n = 8000
    records = world.feed(n)
    world.produce(records[: n // 2])
    world.start_worker("worker", "feed", "--batch-size", "300")
    world.wait_for(lambda: world.stored_feed_records() > 0, what="some progress")
    services = str(ROOT / "scripts" / "services.sh")
    subprocess.run([services, "pg-stop"], check=True, timeout=120)
    try:
        world.produce(records[n // 2:])  # the portal goes on publishing meanwhile
        time.sleep(4)  # longer than the library's own retries: the worker must back off and wait
    finally:
        subprocess.run([services, "pg-start"], check=True, timeout=120)
    progress_after_restart = world.stored_feed_records()
    assert progress_after_restart < n, "the worker finished before the restart"
    world.wait_for(lambda: _caught_up(world, n), timeout=180, what="the worker to resume after the restart")
    serials = world.registered_serials()
    assert len(serials) == n and len(set(serials)) == n
    assert all(p.poll() is None for p in world.processes), "the worker died instead of waiting for the database"


def test_two_workers_in_one_group_one_stops_the_other_takes_over(world: World) -> None:
    n = 6000
    first = world.start_worker("worker", "feed", "--batch-size", "300")
    second = world.start_worker("worker", "feed", "--batch-size", "300")
    time.sleep(5)  # both join the group and share the four partitions
    world.produce(world.feed(n // 2))
    world.wait_for(lambda: world.stored_feed_records() >= n // 4, what="both workers consuming")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    first_log = (world.tmp / "worker-0.log").read_text(errors="replace")
    assert "feed_batch_committed" in first_log, "the first worker stopped before it held any partition"
    world.produce(world.feed(n // 2, start=n // 2))
    world.wait_for(lambda: _caught_up(world, n), timeout=180, what="the remaining worker to take over")
    assert second.poll() is None
    serials = world.registered_serials()
    assert len(serials) == n and len(set(serials)) == n


def test_poison_records_are_dead_lettered_and_the_rest_goes_through(world: World) -> None:
    good = world.feed(300)
    poison: list[bytes | dict] = [
        b"not json",
        b'{"schema_version": 1, "serial": ',
        json.dumps({**good[0], "schema_version": 9}).encode(),
        json.dumps({k: v for k, v in good[1].items() if k != "customer_no"}).encode(),
        json.dumps({**good[2], "installed_on": "31/02/2026"}).encode(),
        b"[1, 2, 3]",
        b"x" * 70_000,
        json.dumps({**good[3], "customer_no": "99\u00009"}).encode(),  # NUL: PostgreSQL text cannot hold it
        json.dumps({**good[4], "x\u0000y": 1}).encode(),  # quoted by the reason
    ]
    mixed: list[bytes | dict] = []
    for i, record in enumerate(good):
        mixed.append(record)
        if i % 40 == 0 and poison:
            mixed.append(poison.pop())
    mixed.extend(poison)
    world.produce(mixed, keys=[f"k{i}" for i in range(len(mixed))])
    world.start_worker("worker", "feed", "--batch-size", "100")
    world.wait_for(lambda: _caught_up(world, len(mixed)), what="all records, good and bad")
    assert sorted(world.registered_serials()) == sorted(r["serial"] for r in good)
    reasons = [r[0] for r in world.sql("SELECT reason FROM cashback_dead_letters")]
    assert len(reasons) == 9
    joined = " | ".join(reasons)
    for expected in (
        "bad JSON",
        "unknown schema_version 9",
        "customer_no",
        "installed_on",
        "expected a JSON object",
        "oversize",
        "control characters (found U+0000)",
        "x\\u0000y: Extra inputs",
    ):
        assert expected in joined
    consumer = KafkaConsumer(
        world.topic + ".dlq", bootstrap_servers=world.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    dlq = list(consumer)
    consumer.close()
    assert len(dlq) >= 9
    assert all(dict(m.headers).get("reason") for m in dlq)


def test_a_record_near_the_brokers_limit_is_dead_lettered_and_the_feed_goes_on(world: World) -> None:
    # Accepted by the broker, refused as oversize; its dead letter must not become a message the
    # producer refuses (that stopped the worker at every restart).
    huge = json.dumps({**world.record(world.serials[0], COMPANIES[0]), "plant_id": "x" * 1_048_000}).encode()
    good = world.feed(10, start=1)
    world.produce([huge, *good], keys=["huge"] + [r["serial"] for r in good])
    world.start_worker("worker", "feed", "--batch-size", "100")
    world.wait_for(lambda: _caught_up(world, 11), what="the records behind the huge one")
    assert sorted(world.registered_serials()) == sorted(r["serial"] for r in good)
    ((reason, stored),) = world.sql("SELECT reason, length(payload) FROM cashback_dead_letters")
    assert reason.startswith("oversize") and stored == len(huge)  # the table keeps the whole record
    consumer = KafkaConsumer(
        world.topic + ".dlq", bootstrap_servers=world.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    (message,) = list(consumer)
    consumer.close()
    headers = dict(message.headers)
    assert headers["reason"].decode().startswith("oversize")
    assert int(headers["payload_bytes"]) == len(huge) and len(message.value) < len(huge)


def test_a_command_starting_beside_a_long_reader_does_not_stall_the_feed(world: World) -> None:
    # Every command builds the engine, which checks the event store's tables. A check that asks
    # for an exclusive lock queues behind a long reader (`audit verify`, an export) and the feed's
    # writer queues behind it.
    world.produce(world.feed(100))
    world.start_worker("worker", "feed", "--batch-size", "50")
    world.wait_for(lambda: _caught_up(world, 100), what="the first records")
    with psycopg.connect(world.pg_dsn) as reader:
        reader.execute(f'SELECT count(*) FROM "{world.schema}".cashback_events')  # holds its lock until the end
        started = time.monotonic()
        world.cli("feed", "status")
        assert time.monotonic() - started < 20
        world.produce(world.feed(100, start=100))
        world.wait_for(lambda: _caught_up(world, 200), timeout=20, what="the feed while the reader is open")
        reader.rollback()


def test_unknown_customer_numbers_are_parked_not_registered(world: World) -> None:
    records = [world.record(world.serials[i], "999999") for i in range(20)]
    world.produce(records)
    world.start_worker("worker", "feed", "--batch-size", "100")
    world.wait_for(lambda: _caught_up(world, 20), what="parked records")
    assert world.registered_serials() == []
    assert world.sql("SELECT COUNT(*) FROM cashback_parked WHERE customer_no = '999999'")[0][0] == 20


def test_feed_status_reports_lag_per_partition(world: World) -> None:
    world.produce(world.feed(100))
    out = world.cli("feed", "status").stdout
    assert "total lag: 100" in out
    world.start_worker("worker", "feed")
    world.wait_for(lambda: _caught_up(world, 100), what="consumption")
    assert "total lag: 0" in world.cli("feed", "status").stdout


def _make_topic_again(bootstrap: str, topic: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

    from adapters.kafka_clients import ensure_topics

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-recreate")
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while topic in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
    except UnknownTopicOrPartitionError:
        pass
    finally:
        admin.close()
    deadline = time.monotonic() + 60
    while True:  # the broker may still be removing it
        try:
            ensure_topics(bootstrap, {topic: 4})
            return
        except TopicAlreadyExistsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_topic_made_again_stops_the_worker_until_its_positions_are_forgotten(world: World) -> None:
    world.produce(world.feed(40))
    world.start_worker("worker", "feed", "--batch-size", "100")
    world.wait_for(lambda: _caught_up(world, 40), what="the first topic's records")
    world.stop_all()
    _make_topic_again(world.bootstrap, world.topic)
    world.produce(world.feed(10, start=40))  # the new topic's offsets start at 0 again

    status = world.cli("feed", "status", check=False)
    assert status.returncode == 1 and "stored past the end: topic recreated?" in status.stdout
    refused = world.cli("worker", "feed", check=False)  # would skip the 10 new records as consumed
    assert refused.returncode == 2 and "cashback feed reset-offsets --yes" in refused.stderr
    assert len(world.registered_serials()) == 40

    assert "4 stored position(s) forgotten" in world.cli("feed", "reset-offsets", "--yes").stdout
    world.start_worker("worker", "feed", "--batch-size", "100", name="after-reset")
    world.wait_for(lambda: len(world.registered_serials()) >= 50, what="the new topic's records")
    serials = world.registered_serials()
    assert len(serials) == 50 and len(set(serials)) == 50


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whatever the container's first process is)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

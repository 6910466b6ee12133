"""More of the feed worker on the real broker and PostgreSQL: SIGTERM mid-run, no event doubled of any
kind, the Kafka position in the audit history, and the projector reading past gaps in the ids."""

from __future__ import annotations

import json
import signal

import pytest

from tests.integration.conftest import COMPANIES, World

pytestmark = pytest.mark.integration




def _events(world: World) -> int:
    return world.sql("SELECT COUNT(*) FROM cashback_events WHERE topic LIKE %s", ("%DeviceRegistration%",))[0][0]


def test_sigterm_finishes_the_batch_in_hand_and_a_restart_does_the_rest(world: World) -> None:
    n = 20000
    world.produce(world.feed(n))
    # Small batches and a close watch: the worker stores 10,000 records in 1,000s in a fraction of a second.
    worker = world.start_worker("worker", "feed", "--batch-size", "200")
    world.wait_for(lambda: 0 < world.stored_feed_records() < n, timeout=120, what="the first batches", interval=0.01)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    done = world.stored_feed_records()
    assert done < n, "the worker finished before SIGTERM"
    assert "feed_worker_stopped" in world.logs()
    # Every record up to the stored offsets has its event, and no record past them: no half batch.
    assert _events(world) == len(world.registered_serials()) == done
    world.start_worker("worker", "feed", "--batch-size", "1000")
    world.wait_for(lambda: world.stored_feed_records() >= n, timeout=180, what="the restarted worker")
    assert _events(world) == n
    assert sorted(world.registered_serials()) == sorted(world.serials[:n])


def test_a_redelivered_batch_records_no_event_of_any_kind(world: World) -> None:
    records = world.feed(300)
    world.produce(records)
    worker = world.start_worker("worker", "feed", "--batch-size", "100")
    world.wait_for(lambda: world.stored_feed_records() >= 300, what="first delivery")
    before = world.sql("SELECT COUNT(*), MAX(notification_id) FROM cashback_events")[0]
    world.produce(records)  # republished
    world.wait_for(lambda: world.stored_feed_records() >= 600, what="second delivery")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    world.sql("DELETE FROM cashback_tracking WHERE application_name LIKE %s", (f"kafka:{world.topic}:%",))
    world.start_worker("worker", "feed", "--batch-size", "100")  # a consumer seeking back to the start
    world.wait_for(lambda: world.stored_feed_records() >= 600, what="redelivery")
    assert world.sql("SELECT COUNT(*), MAX(notification_id) FROM cashback_events")[0] == before
    assert world.sql("SELECT COUNT(*) FROM cashback_parked")[0][0] == 0


def test_audit_history_names_the_kafka_position_of_the_record(world: World) -> None:
    serial = world.serials[0]
    world.produce([world.record(serial, COMPANIES[0])], keys=[serial])
    world.start_worker("worker", "feed")
    world.wait_for(lambda: world.stored_feed_records() >= 1, what="the record")
    (partition, offset), = world.sql(
        "SELECT substring(application_name from '[0-9]+$')::int, notification_id FROM cashback_tracking"
        " WHERE application_name LIKE %s AND notification_id >= 0", (f"kafka:{world.topic}:%",))
    history = json.loads(world.cli("audit", "history", serial, "--format", "json").stdout)
    events = history["events"] if isinstance(history, dict) else history
    first = events[0]
    assert first["channel"] == "feed"
    assert first["source"] == f"kafka:{world.topic}/{partition}/{offset}"
    assert first["actor"] == f"portal:{COMPANIES[0]}"


def test_the_projector_reads_past_gaps_in_the_notification_ids(world: World) -> None:
    path = world.tmp / "first.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in world.feed(50)))
    world.cli("ingest", "feed", str(path))
    # A failed insert burns sequence values: ids 51..60 never appear in the table.
    world.sql("SELECT nextval(pg_get_serial_sequence('cashback_events', 'notification_id'))"
              " FROM generate_series(1, 10)")
    path = world.tmp / "second.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in world.feed(50, start=50)))
    world.cli("ingest", "feed", str(path))
    ids = [r[0] for r in world.sql("SELECT notification_id FROM cashback_events WHERE topic LIKE %s ORDER BY 1",
                                   ("%DeviceRegistration%",))]
    assert len(ids) == 100 and ids[-1] - ids[0] >= 109, "no gap was made"
    projector = world.start_worker("worker", "projector", name="projector")
    world.wait_for(lambda: world.sql("SELECT to_regclass('overview')")[0][0] is not None
                   and world.sql("SELECT COUNT(*) FROM overview")[0][0] == 100, what="the projector past the gap")
    projector.send_signal(signal.SIGTERM)
    projector.wait(timeout=30)


def test_records_rewound_by_a_failed_batch_are_not_skipped_by_the_batch_read_after_them(world: World) -> None:
    """A zombie's race, staged: while this worker's batch k (offsets 0..9 of partition 0) is in
    flight, another member of the group stores 0..4; k fails, is decided again from 5, and fails
    again because the other member has stored 5..6 meanwhile: the worker rewinds partition 0 to 7.
    Batch k + 1 (10..19), polled before the rewind, must not be stored: its position would pass
    7..9, which nobody stored. Real broker, real PostgreSQL, the real writer process; only the other
    member's commits are injected at those two moments."""
    from eventsourcing.persistence import Tracking
    from kafka import KafkaProducer

    from adapters.feed_source import Record
    from adapters.kafka_clients import feed_source
    from adapters.kafka_structs import TopicPartition
    from cashback.bootstrap import feed_writer
    from workers.feed import FeedWorker, _SeekToStored
    from workers.offsets import tracking_name

    records = world.feed(20)
    producer = KafkaProducer(bootstrap_servers=world.bootstrap, acks="all")
    for record in records:  # one partition, in order
        producer.send(world.topic, partition=0, value=json.dumps(record).encode())
    producer.flush()
    producer.close()

    writer = feed_writer(world.settings())
    assert writer is not None
    engine = world.engine()
    app = engine.app
    source = feed_source(world.bootstrap, world.env["CASHBACK_FEED_GROUP"])
    worker = FeedWorker(app, source, world.topic, batch_size=10, writer=writer)
    tp, name = TopicPartition(world.topic, 0), tracking_name(world.topic, 0)

    def other_member_stores(first: int, last: int) -> None:
        raw = [Record(o, json.dumps(records[o]).encode()) for o in range(first, last + 1)]
        intakes, _ = worker._read({tp: raw})
        app.register_batch(intakes, trackings=[Tracking(name, last)])

    submit_job = writer.submit

    def other_member_first(job: object) -> None:  # k reaches the writer after 0..4 are stored elsewhere
        writer.submit = submit_job  # type: ignore[method-assign]
        other_member_stores(0, 4)
        submit_job(job)  # type: ignore[arg-type]

    register = app.register_batch

    def other_member_again(*args: object, **kwargs: object) -> object:  # k's second decision loses the race
        app.register_batch = register  # type: ignore[method-assign]
        other_member_stores(5, 6)
        return register(*args, **kwargs)  # type: ignore[arg-type]

    writer.submit = other_member_first  # type: ignore[method-assign]
    try:
        source.subscribe([world.topic], listener=_SeekToStored(worker))
        for _ in range(400):  # the worker's loop, stepped by hand (FeedWorker.run)
            polled = source.poll(timeout_ms=100, max_records=10)
            if polled:
                if worker.stats.batches == 0 and min(r.offset for rs in polled.values() for r in rs) == 10:
                    app.register_batch = other_member_again  # type: ignore[method-assign]  # k + 1 is here
                worker.submit(polled)
            else:
                worker.settle()
            if worker.stored_offsets().get(0, -1) >= 19 and worker._in_flight is None:
                break
        worker.settle()
    finally:
        source.close()
        writer.close()
        engine.close()
    assert world.stored_feed_records() == 20
    assert sorted(world.registered_serials()) == sorted(r["serial"] for r in records)
    assert len(world.registered_serials()) == 20

"""The event store recorders on the real PostgreSQL and on SQLite.

1. The eventsourcing library's own recorder test suites (application, tracking,
   process, non-interleaving notification ids) run against our subclasses
   CashbackPostgresRecorder and CashbackSQLiteRecorder, so that our overrides of
   ``_insert_events`` keep every guarantee of the library's recorders.
2. Our additions: several tracking positions (one per Kafka partition) and side
   rows written in the events' transaction, all or nothing; ``select_versions``;
   ``trackings(prefix)``; ``fetch_all``.

PostgreSQL: CASHBACK_PG_DSN (scripts/services.sh), each test class / test in its
own schema, dropped afterwards. SQLite: a file in a temporary directory.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

# Imported as a module: importing the abstract test cases by name would make
# pytest collect (and fail) them.
from eventsourcing.tests import persistence as suites
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from adapters.postgres_store import CashbackPostgresRecorder
from adapters.side_rows import BatchTracking, CompanyRow, DeadLetterRow, ParkedRow
from adapters.sqlite_store import CashbackSQLiteRecorder

pytestmark = pytest.mark.integration

DEFAULT_PG_DSN = "postgresql://cashback:cashback@127.0.0.1:55432/cashback"
EVENTS_TABLE = "cashback_events"  # the names the application's factory uses
TRACKING_TABLE = "cashback_tracking"

Recorder = CashbackPostgresRecorder | CashbackSQLiteRecorder


# --- helpers -------------------------------------------------------------------------------


def pg_dsn() -> str:
    return os.environ.get("CASHBACK_PG_DSN") or DEFAULT_PG_DSN


def pg_connect(wait: float = 20.0) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection; waits a little if the server is (re)starting."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return psycopg.connect(pg_dsn(), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def pg_create_schema(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(schema)))


def pg_drop_schema(schema: str) -> None:
    """Drops the schema's tables (and any type or function) with the schema."""
    with pg_connect() as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


def pg_datastore(schema: str, *, pool_size: int = 4, max_overflow: int = 8) -> PostgresDatastore:
    """A datastore like the application's (db functions off), in the given schema."""
    params = conninfo_to_dict(pg_dsn())
    return PostgresDatastore(
        dbname=str(params.get("dbname", "cashback")),
        host=str(params.get("host", "127.0.0.1")),
        port=str(params.get("port", "5432")),
        user=str(params.get("user", "cashback")),
        password=str(params.get("password", "")),
        schema=schema,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_timeout=30,
        lock_timeout=30,
        enable_db_functions=False,
    )


def pg_recorder(datastore: PostgresDatastore) -> CashbackPostgresRecorder:
    recorder = CashbackPostgresRecorder(
        datastore, events_table_name=EVENTS_TABLE, tracking_table_name=TRACKING_TABLE
    )
    recorder.create_table()
    return recorder


def sqlite_recorder(datastore: SQLiteDatastore) -> CashbackSQLiteRecorder:
    recorder = CashbackSQLiteRecorder(datastore, events_table_name=EVENTS_TABLE)
    recorder.create_table()
    return recorder


# --- 1. the library's recorder suites on PostgreSQL -----------------------------------------


class _JoinStrayThreads:
    """The library's test_concurrent_no_conflicts tells its two reader threads to stop
    but does not join them: closing the datastore under a reader still in a query
    crashes the interpreter (SQLite) or fails the query (PostgreSQL). So tearDown
    waits for the threads a test started before closing anything."""

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self._threads_before = set(threading.enumerate())

    def join_stray_threads(self, timeout: float = 30.0) -> None:
        # Non-daemon only: the connection pools' own workers are daemons, and stop on close().
        for thread in set(threading.enumerate()) - self._threads_before:
            if not thread.daemon:
                thread.join(timeout)


class _PostgresSchemaPerClass(_JoinStrayThreads):
    """setUp/tearDown for the library's suites: a datastore in this class's own schema,
    created empty before each test and dropped (with its tables) after it."""

    schema_tag = "suite"
    datastore: PostgresDatastore

    def setUp(self) -> None:
        super().setUp()
        self.schema = f"test_recorders_{self.schema_tag}_{os.getpid()}"
        pg_drop_schema(self.schema)  # left over by an interrupted run
        pg_create_schema(self.schema)
        self.datastore = pg_datastore(self.schema)

    def tearDown(self) -> None:
        self.join_stray_threads()
        self.datastore.close()
        pg_drop_schema(self.schema)
        super().tearDown()  # type: ignore[misc]

    def create_recorder(self) -> CashbackPostgresRecorder:
        return pg_recorder(self.datastore)


class TestPostgresApplicationRecorder(
    _PostgresSchemaPerClass, suites.ApplicationRecorderTestCase[CashbackPostgresRecorder]
):
    schema_tag = "app"

    def test_insert_subscribe(self) -> None:
        # Optional in the library's suite; the PostgreSQL recorder supports
        # subscriptions (LISTEN/NOTIFY), so run it.
        self.optional_test_insert_subscribe()


class TestPostgresTrackingRecorder(_PostgresSchemaPerClass, suites.TrackingRecorderTestCase):
    schema_tag = "tracking"


class TestPostgresProcessRecorder(_PostgresSchemaPerClass, suites.ProcessRecorderTestCase):
    schema_tag = "process"


class TestPostgresNonInterleavingNotificationIDs(
    _PostgresSchemaPerClass, suites.NonInterleavingNotificationIDsBaseCase
):
    schema_tag = "interleave"


# --- 1. the library's recorder suites on SQLite ---------------------------------------------


class _SQLiteFilePerTest(_JoinStrayThreads):
    """A file database (as the application uses) in a temporary directory per test.
    The pool is large enough for the concurrency tests' 10 writers and 2 readers."""

    def setUp(self) -> None:
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory(prefix="test_recorders_")
        self.datastore = SQLiteDatastore(str(Path(self._tmp.name) / "events.sqlite"), pool_size=20)

    def tearDown(self) -> None:
        self.join_stray_threads()
        self.datastore.close()
        self._tmp.cleanup()
        super().tearDown()  # type: ignore[misc]

    def create_recorder(self) -> CashbackSQLiteRecorder:
        return sqlite_recorder(self.datastore)


class TestSQLiteApplicationRecorder(
    _SQLiteFilePerTest, suites.ApplicationRecorderTestCase[CashbackSQLiteRecorder]
):
    pass  # optional_test_insert_subscribe: the library's SQLite recorder has no subscribe()


class TestSQLiteTrackingRecorder(_SQLiteFilePerTest, suites.TrackingRecorderTestCase):
    pass


class TestSQLiteProcessRecorder(_SQLiteFilePerTest, suites.ProcessRecorderTestCase):
    pass


class TestSQLiteNonInterleavingNotificationIDs(
    _SQLiteFilePerTest, suites.NonInterleavingNotificationIDsBaseCase
):
    pass


# --- 2. our additions, on both backends -----------------------------------------------------


@dataclass
class Store:
    """A recorder, and a way to look at its tables without going through it."""

    backend: str
    recorder: Recorder
    raw: Any  # an autocommit psycopg connection (search_path = the schema) or a sqlite3 connection

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            return [tuple(r) for r in self.raw.execute(statement.replace("%s", "?"), tuple(params))]
        return [tuple(r) for r in self.raw.execute(statement, tuple(params)).fetchall()]

    def count(self, table: str) -> int:
        return int(self.sql(f"SELECT COUNT(*) FROM {table}")[0][0])

    def positions(self) -> dict[str, int]:
        table = "tracking" if self.backend == "sqlite" else TRACKING_TABLE
        rows = self.sql(f"SELECT application_name, notification_id FROM {table} WHERE application_name <> %s",
                        ("__migration__",))
        return {name: int(pos) for name, pos in rows}

    def dead_letters(self) -> set[tuple[str, str]]:
        return {(s, p) for s, p in self.sql("SELECT source, position FROM cashback_dead_letters")}


def _sqlite_store(tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "events.sqlite"
    datastore = SQLiteDatastore(str(path))
    raw = sqlite3.connect(path)
    try:
        yield Store("sqlite", sqlite_recorder(datastore), raw)
    finally:
        raw.close()
        datastore.close()


def _postgres_store() -> Iterator[Store]:
    schema = f"test_recorders_own_{uuid.uuid4().hex[:10]}"
    pg_create_schema(schema)
    datastore = pg_datastore(schema, pool_size=2, max_overflow=2)
    try:
        recorder = pg_recorder(datastore)
        with pg_connect() as raw:
            raw.execute(SQL("SET search_path TO {0}").format(Identifier(schema)))
            yield Store("postgres", recorder, raw)
    finally:
        datastore.close()
        pg_drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh recorder on each backend: SQLite file / PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield from _sqlite_store(tmp_path)
    else:
        yield from _postgres_store()


def event(originator_id: uuid.UUID, version: int = 1, topic: str = "cashback:Thing.Happened") -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic,
                       state=b'{"n": %d}' % version)


RECEIVED = datetime(2026, 12, 1, 9, 0, 0)


def company(customer_no: str = "200001", name: str = "Installateur", email: str = "a@example.org") -> CompanyRow:
    return CompanyRow("2026-h2", customer_no, name, email, date(2026, 1, 15))


def parked(serial: str = "4000000001", payload: str = '{"serial": "4000000001"}') -> ParkedRow:
    return ParkedRow("2026-h2", "299999", serial, "kafka:t:0@12", payload, RECEIVED)


def dead_letter(position: str, reason: str = "not json") -> DeadLetterRow:
    return DeadLetterRow("kafka:t:0", position, reason, b"\xffnot json", RECEIVED)


THREE = [Tracking("kafka:t:0", 10), Tracking("kafka:t:1", 5), Tracking("kafka:t:2", 7)]


def test_several_positions_are_stored_with_the_events(store: Store) -> None:
    rec = store.recorder
    a = uuid.uuid4()
    rec.insert_events([event(a, 1), event(a, 2)], trackings=THREE)

    assert rec.max_tracking_id("kafka:t:0") == 10
    assert rec.max_tracking_id("kafka:t:1") == 5
    assert rec.max_tracking_id("kafka:t:2") == 7
    assert rec.max_tracking_id("kafka:t:3") is None
    assert rec.trackings("kafka:t:") == {"kafka:t:0": 10, "kafka:t:1": 5, "kafka:t:2": 7}
    assert rec.trackings("kafka:other:") == {}
    assert [e.originator_version for e in rec.select_events(a)] == [1, 2]

    # Every position moves forward in the next batch, some partitions may be absent.
    rec.insert_events([event(a, 3)], trackings=[Tracking("kafka:t:0", 11), Tracking("kafka:t:2", 9)])
    assert rec.trackings("kafka:t:") == {"kafka:t:0": 11, "kafka:t:1": 5, "kafka:t:2": 9}


def test_trackings_prefix_is_literal(store: Store) -> None:
    """Another topic's positions are never returned: '_' and '%' are not wildcards,
    and the match is case-sensitive (Kafka topic names are), on both backends."""
    rec = store.recorder
    rec.insert_events([], trackings=[
        Tracking("kafka:a_b:0", 1), Tracking("kafka:axb:0", 2), Tracking("kafka:a%:0", 3),
        Tracking("kafka:aZ:0", 4), Tracking("kafka:T:0", 5), Tracking("kafka:t:0", 6),
    ])
    assert rec.trackings("kafka:a_b:") == {"kafka:a_b:0": 1}
    assert rec.trackings("kafka:a%:") == {"kafka:a%:0": 3}
    assert rec.trackings("kafka:t:") == {"kafka:t:0": 6}
    assert rec.trackings("kafka:T:") == {"kafka:T:0": 5}


@pytest.mark.parametrize("stale_partition", [0, 1, 2])
@pytest.mark.parametrize("stale_offset", ["equal", "lower"])
def test_a_position_not_moving_forward_rolls_back_the_whole_batch(
    store: Store, stale_partition: int, stale_offset: str
) -> None:
    rec = store.recorder
    a, b = uuid.uuid4(), uuid.uuid4()
    rec.insert_events([event(a)], trackings=THREE, dead_letters=[dead_letter("3")])
    before = store.positions()
    assert before == {"kafka:t:0": 10, "kafka:t:1": 5, "kafka:t:2": 7}

    # Every partition advances except one, which stays (or goes back): it is a replay.
    trackings = [Tracking(t.application_name, t.notification_id + 3) for t in THREE]
    stale = THREE[stale_partition]
    trackings[stale_partition] = Tracking(
        stale.application_name, stale.notification_id - (0 if stale_offset == "equal" else 1)
    )
    with pytest.raises(IntegrityError):
        rec.insert_events(
            [event(b), event(a, 2)],
            trackings=trackings,
            companies=[company()],
            parked=[parked()],
            dead_letters=[dead_letter("4"), dead_letter("5")],
        )

    assert store.positions() == before
    assert rec.trackings("kafka:t:") == before
    assert store.count(EVENTS_TABLE) == 1
    assert rec.select_events(b) == []
    assert [e.originator_version for e in rec.select_events(a)] == [1]
    assert rec.select_versions([a, b]) == {a: 1}
    assert store.dead_letters() == {("kafka:t:0", "3")}
    assert store.count("cashback_companies") == 0
    assert store.count("cashback_parked") == 0

    # The recorder is still usable: the same batch with the positions moving forward goes in.
    trackings[stale_partition] = Tracking(stale.application_name, stale.notification_id + 1)
    rec.insert_events([event(b), event(a, 2)], trackings=trackings, dead_letters=[dead_letter("4")])
    assert rec.select_versions([a, b]) == {a: 2, b: 1}
    assert store.dead_letters() == {("kafka:t:0", "3"), ("kafka:t:0", "4")}


def test_a_batch_without_events_still_advances_the_positions(store: Store) -> None:
    rec = store.recorder
    rec.insert_events([], trackings=THREE)
    assert rec.trackings("kafka:t:") == {"kafka:t:0": 10, "kafka:t:1": 5, "kafka:t:2": 7}

    # e.g. a batch of records that were all dead-lettered
    rec.insert_events([], trackings=[Tracking("kafka:t:1", 8)], dead_letters=[dead_letter("6")])
    assert rec.trackings("kafka:t:") == {"kafka:t:0": 10, "kafka:t:1": 8, "kafka:t:2": 7}
    assert store.dead_letters() == {("kafka:t:0", "6")}
    assert store.count(EVENTS_TABLE) == 0

    with pytest.raises(IntegrityError):
        rec.insert_events([], trackings=[Tracking("kafka:t:1", 8)], dead_letters=[dead_letter("7")])
    assert rec.trackings("kafka:t:") == {"kafka:t:0": 10, "kafka:t:1": 8, "kafka:t:2": 7}
    assert store.dead_letters() == {("kafka:t:0", "6")}


def test_side_rows_are_written_with_the_events(store: Store) -> None:
    rec = store.recorder
    a = uuid.uuid4()
    rec.insert_events(
        [event(a)],
        companies=[company("200001", "First name", "first@example.org"), company("200002")],
        parked=[parked("4000000001", "first")],
        dead_letters=[dead_letter("1", "first reason")],
    )
    # companies: upsert; parked and dead letters: the first one stays.
    rec.insert_events(
        [event(a, 2)],
        companies=[company("200001", "Second name", "second@example.org")],
        parked=[parked("4000000001", "second"), parked("4000000002", "other")],
        dead_letters=[dead_letter("1", "second reason"), dead_letter("2")],
    )

    assert sorted(store.sql("SELECT customer_no, name, contact_email FROM cashback_companies")) == [
        ("200001", "Second name", "second@example.org"),
        ("200002", "Installateur", "a@example.org"),
    ]
    assert sorted(store.sql("SELECT serial, payload FROM cashback_parked")) == [
        ("4000000001", "first"), ("4000000002", "other"),
    ]
    assert sorted(store.sql("SELECT position, reason FROM cashback_dead_letters")) == [
        ("1", "first reason"), ("2", "not json"),
    ]
    payload = store.sql("SELECT payload FROM cashback_dead_letters WHERE position = %s", ("2",))[0][0]
    assert bytes(payload) == b"\xffnot json"

    # fetch_all reads the side tables where the recorder wrote them (its schema on PostgreSQL).
    assert rec.fetch_all("SELECT COUNT(*) FROM cashback_parked") == [(2,)]
    assert rec.fetch_all("SELECT name FROM cashback_companies WHERE customer_no = %s", ("200001",)) == [
        ("Second name",)
    ]


def test_an_event_conflict_rolls_back_side_rows_and_positions(store: Store) -> None:
    rec = store.recorder
    a, b = uuid.uuid4(), uuid.uuid4()
    rec.insert_events([event(a)])

    # (a, 1) exists: another writer got there first.
    with pytest.raises(IntegrityError):
        rec.insert_events(
            [event(b), event(a, 1, topic="cashback:Thing.Again")],
            trackings=THREE,
            companies=[company()],
            parked=[parked()],
            dead_letters=[dead_letter("1")],
        )

    assert store.positions() == {}
    assert rec.trackings("kafka:t:") == {}
    assert rec.max_tracking_id("kafka:t:0") is None
    assert store.count("cashback_companies") == 0
    assert store.count("cashback_parked") == 0
    assert store.count("cashback_dead_letters") == 0
    assert rec.select_events(b) == []
    assert [e.topic for e in rec.select_events(a)] == ["cashback:Thing.Happened"]
    assert store.count(EVENTS_TABLE) == 1


def test_select_versions(store: Store) -> None:
    rec = store.recorder
    a, b = uuid.uuid4(), uuid.uuid4()
    rec.insert_events([event(a, 1), event(a, 2), event(a, 3), event(b, 1)])
    unknown = uuid.uuid4()

    assert rec.select_versions([a, b, unknown]) == {a: 3, b: 1}
    assert rec.select_versions([unknown]) == {}
    assert rec.select_versions([]) == {}

    # Many ids (the SQLite recorder asks in chunks of 500), known ones spread over the chunks.
    many = [uuid.uuid4() for _ in range(1200)]
    known = many[5], many[700], many[1199]
    rec.insert_events([event(known[0], 1), event(known[1], 1), event(known[1], 2), event(known[2], 4)])
    assert rec.select_versions(many) == {known[0]: 1, known[1]: 2, known[2]: 4}
    assert rec.select_versions([*many, a]) == {known[0]: 1, known[1]: 2, known[2]: 4, a: 3}


@pytest.mark.parametrize("first", [3, 10, 11])
def test_a_batch_overlapping_stored_records_rolls_back_whole_on_postgres(first: int) -> None:
    """A batch of records first..15 of a partition stored up to 10: from 11 on it is stored; from 10
    or before, some of its records are stored already (another member of the group stored them) and
    nothing of it is, although its last position moves forward (the library's check alone lets it in)."""
    for store in _postgres_store():
        rec = store.recorder
        rec.insert_events([event(uuid.uuid4())], trackings=[Tracking("kafka:t:0", 10)])
        a = uuid.uuid4()
        batch = dict(trackings=[BatchTracking("kafka:t:0", 15, first), BatchTracking("kafka:t:1", 4, 0)],
                     dead_letters=[dead_letter("0/12")])
        if first > 10:
            rec.insert_events([event(a)], **batch)
            assert store.positions() == {"kafka:t:0": 15, "kafka:t:1": 4}
            assert [e.originator_version for e in rec.select_events(a)] == [1]
        else:
            with pytest.raises(IntegrityError, match="at or after the batch's first record"):
                rec.insert_events([event(a)], **batch)
            assert store.positions() == {"kafka:t:0": 10}
            assert rec.select_events(a) == []
            assert store.dead_letters() == set()


def test_a_batch_tracking_is_a_plain_position_on_sqlite(tmp_path: Path) -> None:
    for store in _sqlite_store(tmp_path):
        store.recorder.insert_events([], trackings=[BatchTracking("kafka:t:0", 15, 11)])
        assert store.positions() == {"kafka:t:0": 15}


def test_the_schema_named_by_the_settings_is_made_at_the_first_start() -> None:
    schema = f"test_recorders_new_{uuid.uuid4().hex[:10]}"
    datastore = pg_datastore(schema, pool_size=1, max_overflow=1)
    try:
        rec = pg_recorder(datastore)  # no CREATE SCHEMA before: the recorder's create_table makes it
        rec.insert_events([event(uuid.uuid4())], trackings=[Tracking("kafka:t:0", 1)])
        assert rec.trackings("kafka:t:") == {"kafka:t:0": 1}
        pg_recorder(datastore)  # a second start finds it
    finally:
        datastore.close()
        pg_drop_schema(schema)

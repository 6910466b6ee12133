"""PostgreSQL event store recorder: events, many tracking positions and side rows in one transaction.

Each stored event also gets its ``chain_hash`` (adapters/chain.py), computed at insert time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier, Literal

from adapters import chain, copy_binary, side_rows

#: Advisory lock key of schema changes (tables of the event store and of the read models).
DDL_LOCK = 0x63617368  # "cash"


class CashbackPostgresRecorder(PostgresProcessRecorder):
    """The library's process recorder, plus ``trackings=`` (several positions,
    one per Kafka partition) and side rows, written in the events' transaction.

    Every event gets its ``chain_hash`` (HMAC with ``chain_key``, set from the settings by the composition root),
    computed after the table lock: the previous hashes come from the batch itself or from ONE query
    for the aggregates whose previous event is already stored; a batch of version-1 events (the
    feed's bulk) needs no query at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.datastore.enable_db_functions:
            raise ProgrammingError("the chained recorder inserts events itself: set POSTGRES_ENABLE_DB_FUNCTIONS=n")
        self.chain_key: bytes = chain.development_key()
        # DB functions are off: do not (re)create the library's insert function at every start, where
        # two processes starting together collide on pg_proc ("tuple concurrently updated").
        self.sql_create_statements = [
            statement for statement in self.sql_create_statements
            if statement is not self.sql_create_pg_function_insert_events
        ]
        self.sql_create_statements.extend(SQL(self.qualify(s)) for s in side_rows.CREATE_STATEMENTS)  # type: ignore[arg-type, misc]
        table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        id_type = SQL("uuid" if self.datastore.originator_id_type == "uuid" else "text")
        # New tables and tables made before the chain existed alike (their old rows stay unsealed).
        # Only when the column is missing: ALTER TABLE … IF NOT EXISTS still asks for an ACCESS
        # EXCLUSIVE lock, which queues behind any long reader (an export, `audit verify`) and makes
        # every writer wait behind it, the feed included, whenever a command starts.
        self.sql_create_statements.append(
            SQL("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute"
                " WHERE attrelid = {1}::regclass AND attname = 'chain_hash' AND NOT attisdropped)"
                " THEN ALTER TABLE {0} ADD COLUMN chain_hash bytea; END IF; END $$").format(
                table, Literal(f'"{self.datastore.schema}"."{self.events_table_name}"')))
        self.copy_events_statement = SQL(
            "COPY {0} (" + copy_binary.COLUMNS + ") FROM STDIN (FORMAT BINARY)"
        ).format(table)
        self.row_encoder = copy_binary.RowEncoder(uuid_ids=self.datastore.originator_id_type == "uuid")
        # One call reserves the batch's ids (consecutive: under the table lock nobody else draws).
        self.reserve_ids_statement = SQL(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'),"
            " nextval(pg_get_serial_sequence(%s, 'notification_id')) + %s - 1) AS last"
        )
        self.table_text = f'"{self.datastore.schema}"."{self.events_table_name}"' if self.datastore.schema \
            else f'"{self.events_table_name}"'
        tracking_table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        self.insert_batch_tracking_statement = SQL(
            "INSERT INTO {0} (application_name, notification_id) VALUES (%(name)s, %(position)s)"
            " ON CONFLICT (application_name) DO UPDATE SET notification_id = %(position)s"
            " WHERE {0}.notification_id < %(first)s RETURNING notification_id"
        ).format(tracking_table)
        self.select_previous_statement = SQL(
            "SELECT t.originator_id, t.originator_version, t.chain_hash"
            " FROM unnest(%s::{1}[], %s::bigint[]) AS p(id, v)"
            " JOIN {0} AS t ON t.originator_id = p.id AND t.originator_version = p.v"
        ).format(table, id_type)

    def create_table(self) -> None:
        """Create the schema and tables once even when several processes start at the same moment (an
        advisory lock serialises them; CREATE … IF NOT EXISTS alone races on the system catalogs)."""
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK,))
            try:
                if self.datastore.schema:  # a deployment names its schema; the first start makes it
                    conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(self.datastore.schema)))
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK,))

    def qualify(self, statement: str) -> str:
        """Side tables live in the event store's schema (POSTGRES_SCHEMA)."""
        schema = self.datastore.schema
        return statement.replace(" cashback_", f' "{schema}".cashback_') if schema else statement

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        trackings: Sequence[Tracking] = kwargs.get("trackings") or ()
        for tracking in trackings:
            if isinstance(tracking, side_rows.BatchTracking) and self.datastore.single_row_tracking:
                self._insert_batch_tracking(curs, tracking)
            else:
                self._insert_tracking(curs, tracking)
        if rows := kwargs.get("companies"):
            curs.executemany(self.qualify(side_rows.UPSERT_COMPANY), side_rows.company_params(rows))  # type: ignore[arg-type]
        if rows := kwargs.get("parked"):
            curs.executemany(self.qualify(side_rows.INSERT_PARKED), side_rows.parked_params(rows))  # type: ignore[arg-type]
        if rows := kwargs.get("dead_letters"):
            curs.executemany(self.qualify(side_rows.INSERT_DEAD_LETTER), side_rows.dead_letter_params(rows))  # type: ignore[arg-type]
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_batch_tracking(self, curs: Cursor[DictRow], tracking: side_rows.BatchTracking) -> None:
        curs.execute(self.insert_batch_tracking_statement, {"name": tracking.application_name,
                                                            "position": tracking.notification_id,
                                                            "first": tracking.first_id}, prepare=True)
        if curs.fetchone() is None:
            raise side_rows.PositionsStoredAlready(
                f"Failed to record tracking for {tracking.application_name} {tracking.notification_id}:"
                f" a position at or after the batch's first record ({tracking.first_id}) is stored already"
            )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Tracking positions, side rows and events in one transaction; the events by binary COPY.

        The library pipelines an INSERT; COPY moves a batch of thousands of events several times
        faster, but cannot run in a pipeline: the small statements (positions, side rows, the table
        lock and the reservation of the notification ids) are pipelined first, then the events are
        copied with the ids reserved under the lock, so the insert order is still the commit order.
        The rows are hashed and encoded before the transaction: under the lock, every other writer waits."""
        n = len(stored_events)
        prefixes = self.row_encoder.prefixes(stored_events, self._chain_hashes(stored_events)) if n else []
        last = 0
        with self.datastore.get_connection() as conn, conn.transaction():
            exc: Exception | None = None
            with conn.pipeline() as pipeline:
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if n:
                    with conn.cursor() as curs:
                        try:
                            self._lock_table(curs)
                            self._notify_channel(curs)
                            curs.execute(self.reserve_ids_statement, (self.table_text, self.table_text, n))
                            pipeline.sync()
                            row = curs.fetchone()
                            assert row is not None
                            last = int(row["last"])
                        except Exception as error:  # re-raised outside the pipeline (no psycopg warning)
                            exc = error
            if exc:
                raise exc
            if n:
                with conn.cursor() as curs, curs.copy(self.copy_events_statement) as copy:
                    copy.write(copy_binary.payload(prefixes, last - n + 1))
        return list(range(last - n + 1, last + 1)) if n else None

    def _chain_hashes(self, stored_events: Sequence[StoredEvent]) -> list[bytes]:
        """The events' chain hashes. The previous events that are not in the batch are read first,
        outside the lock: an event of version n is only written once version n - 1 is committed,
        and a stored row never changes."""
        previous: dict[tuple[Any, int], bytes] = {}
        if needed := chain.previous_needed(stored_events):
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self.select_previous_statement, ([i for i, _ in needed], [v for _, v in needed]))
                previous = {(row["originator_id"], int(row["originator_version"])): bytes(row["chain_hash"])
                            for row in curs.fetchall() if row["chain_hash"] is not None}
        return chain.chain_batch(self.chain_key, stored_events, previous)

    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        if not originator_ids:
            return {}
        statement = SQL(
            "SELECT originator_id, MAX(originator_version) AS v FROM {0}.{1}"
            " WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, (list(originator_ids),))
            return {oid if isinstance(oid, UUID) else UUID(str(oid)): int(version) for oid, version in curs.fetchall()}

    def fetch_all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.qualify(" " + statement), params)  # type: ignore[arg-type]
            return [tuple(row.values()) for row in curs.fetchall()]

    def trackings(self, prefix: str) -> dict[str, int]:
        statement = SQL(
            # starts_with, not LIKE: '_' and '%' may be in a topic's name.
            "SELECT application_name, notification_id FROM {0}.{1} WHERE starts_with(application_name, %s)"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (prefix,))
            return {row["application_name"]: int(row["notification_id"]) for row in curs.fetchall()}

    def forget_trackings(self, prefix: str) -> int:
        """Delete the positions whose name starts with ``prefix``; how many there were."""
        statement = SQL("DELETE FROM {0}.{1} WHERE starts_with(application_name, %s)").format(
            Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(statement, (prefix,))
            return int(curs.rowcount)

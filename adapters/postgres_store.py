"""PostgreSQL event store recorder: events, many tracking positions and side rows in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from adapters import side_rows


class CashbackPostgresRecorder(PostgresProcessRecorder):
    """The library's process recorder, plus ``trackings=`` (several positions,
    one per Kafka partition) and side rows, written in the events' transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(SQL(self.qualify(s)) for s in side_rows.CREATE_STATEMENTS)  # type: ignore[arg-type]

    def qualify(self, statement: str) -> str:
        """Side tables live in the event store's schema (POSTGRES_SCHEMA)."""
        schema = self.datastore.schema
        return statement.replace(" cashback_", f' "{schema}".cashback_') if schema else statement

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        trackings: Sequence[Tracking] = kwargs.get("trackings") or ()
        for tracking in trackings:
            self._insert_tracking(curs, tracking)
        if rows := kwargs.get("companies"):
            curs.executemany(self.qualify(side_rows.UPSERT_COMPANY), side_rows.company_params(rows))  # type: ignore[arg-type]
        if rows := kwargs.get("parked"):
            curs.executemany(self.qualify(side_rows.INSERT_PARKED), side_rows.parked_params(rows))  # type: ignore[arg-type]
        if rows := kwargs.get("dead_letters"):
            curs.executemany(self.qualify(side_rows.INSERT_DEAD_LETTER), side_rows.dead_letter_params(rows))  # type: ignore[arg-type]
        super()._insert_events(curs, stored_events, **kwargs)

    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        if not originator_ids:
            return {}
        statement = SQL(
            "SELECT originator_id, MAX(originator_version) AS v FROM {0}.{1}"
            " WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(originator_ids),))
            return {UUID(str(row["originator_id"])): int(row["v"]) for row in curs.fetchall()}

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

"""SQLite event store recorder: events, many tracking positions and side rows in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder

from adapters import side_rows


def _q(statement: str) -> str:
    return statement.replace("%s", "?").replace("BYTEA", "BLOB")


class CashbackSQLiteRecorder(SQLiteProcessRecorder):
    """The library's process recorder, plus:

    * ``trackings=[Tracking, ...]``: several positions (one per Kafka partition
      or per source) stored in the same transaction as the events;
    * ``companies=``, ``parked=``, ``dead_letters=``: side rows, same transaction.
    """

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.extend(_q(s) for s in side_rows.CREATE_STATEMENTS)
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        trackings: Sequence[Tracking] = kwargs.get("trackings") or ()
        for tracking in trackings:
            self._insert_tracking(c, tracking)
        if rows := kwargs.get("companies"):
            c.executemany(_q(side_rows.UPSERT_COMPANY), side_rows.company_params(rows))
        if rows := kwargs.get("parked"):
            c.executemany(_q(side_rows.INSERT_PARKED), side_rows.parked_params(rows))
        if rows := kwargs.get("dead_letters"):
            c.executemany(_q(side_rows.INSERT_DEAD_LETTER), side_rows.dead_letter_params(rows))
        return returning

    # --- reads the application needs in bulk ----------------------------------

    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Current version of each given aggregate that exists (one query per chunk)."""
        found: dict[UUID, int] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(originator_ids), 500):
                chunk = [i.hex for i in originator_ids[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                c.execute(
                    f"SELECT originator_id, MAX(originator_version) FROM {self.events_table_name}"
                    f" WHERE originator_id IN ({marks}) GROUP BY originator_id",
                    chunk,
                )
                for row in c.fetchall():
                    found[UUID(row[0])] = int(row[1])
        return found

    def fetch_all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_q(statement), params)
            return [tuple(row) for row in c.fetchall()]

    def trackings(self, prefix: str) -> dict[str, int]:
        # Not LIKE: it is case-insensitive in SQLite and '_' and '%' may be in a topic's name.
        rows = self.fetch_all(
            "SELECT application_name, notification_id FROM tracking"
            " WHERE substr(application_name, 1, length(%s)) = %s",
            (prefix, prefix),
        )
        return {name: int(pos) for name, pos in rows}

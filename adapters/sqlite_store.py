"""SQLite event store recorder: events, many tracking positions and side rows in one transaction.

Each stored event also gets its ``chain_hash`` (adapters/chain.py), computed at insert time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder

from adapters import chain, side_rows


def _q(statement: str) -> str:
    return statement.replace("%s", "?").replace("BYTEA", "BLOB")


class CashbackSQLiteRecorder(SQLiteProcessRecorder):
    """The library's process recorder, plus:

    * ``trackings=[Tracking, ...]``: several positions (one per Kafka partition
      or per source) stored in the same transaction as the events;
    * ``companies=``, ``parked=``, ``dead_letters=``: side rows, same transaction;
    * ``chain_hash``: each event's link in its aggregate's hash chain (HMAC with ``chain_key``,
      set from the settings by the composition root); the previous hashes of a batch come from the batch itself or
      from one query, and a batch of version-1 events needs no query at all.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_key: bytes = chain.development_key()
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name}"
            " (originator_id, originator_version, topic, state, chain_hash) VALUES (?,?,?,?,?)"
        )
        self.select_previous_statement = (
            f"SELECT e.originator_id, e.originator_version, e.chain_hash FROM json_each(?) AS j"
            f" JOIN {self.events_table_name} AS e ON e.originator_id = json_extract(j.value, '$[0]')"
            " AND e.originator_version = json_extract(j.value, '$[1]')"
        )

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.extend(_q(s) for s in side_rows.CREATE_STATEMENTS)
        return statements

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        # New tables and tables made before the chain existed alike (their old rows stay unsealed).
        c.execute(f"PRAGMA table_info({self.events_table_name})")
        if "chain_hash" not in {row[1] for row in c.fetchall()}:
            c.execute(f"ALTER TABLE {self.events_table_name} ADD COLUMN chain_hash BLOB")

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Replaces the library's SQLiteApplicationRecorder/SQLiteProcessRecorder._insert_events
        # (one INSERT per event for its rowid, then the tracking position) with the chain hash added.
        returning: list[int] = []
        if stored_events:
            hashes = chain.chain_batch(self.chain_key, stored_events, self._previous_hashes(c, stored_events))
            for s, digest in zip(stored_events, hashes, strict=True):
                c.execute(
                    self.insert_events_statement,
                    (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                     s.originator_version, s.topic, s.state, digest),
                )
                returning.append(c.lastrowid)
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
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

    def _previous_hashes(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> dict[tuple[Any, int], bytes]:
        needed = chain.previous_needed(stored_events)
        if not needed:
            return {}
        pairs = [[i.hex if isinstance(i, UUID) else i, v] for i, v in needed]
        c.execute(self.select_previous_statement, (json.dumps(pairs),))
        return {(self.convert_originator_id(row[0]), int(row[1])): row[2] for row in c.fetchall() if row[2]}

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

    def forget_trackings(self, prefix: str) -> int:
        """Delete the positions whose name starts with ``prefix``; how many there were."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM tracking WHERE substr(application_name, 1, length(?)) = ?", (prefix, prefix))
            return int(c.sqlite_cursor.rowcount)

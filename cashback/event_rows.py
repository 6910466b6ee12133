"""Raw reads of the event table for audits: streamed, in bounded memory, on PostgreSQL and SQLite.

PostgreSQL: a server-side (named) cursor inside one read-only transaction, fetched ``batch`` rows
at a time. SQLite: the cursor of one read transaction, stepped ``batch`` rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NamedTuple
from uuid import UUID

from adapters.chain import uuid_text_from_hex

Order = Literal["aggregate", "notification"]

COLUMNS = "notification_id, originator_id, originator_version, topic, state, chain_hash"
# PostgreSQL sends the id as text (str(UUID) form): cheaper than a UUID object turned back into text.
PG_COLUMNS = "notification_id, originator_id::text, originator_version, topic, state, chain_hash"


class RawEvent(NamedTuple):
    """A stored row; ``originator_id`` as text (``str(UUID)`` for UUID ids, on both backends)."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    chain_hash: bytes | None


def is_postgres(recorder: Any) -> bool:
    from eventsourcing.postgres import PostgresDatastore

    return isinstance(recorder.datastore, PostgresDatastore)


def table_name(recorder: Any) -> str:
    """The events table, schema-qualified and quoted on PostgreSQL."""
    if is_postgres(recorder):
        return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    return str(recorder.events_table_name)


def _where(version1_only: bool, originator_id: Any) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if version1_only:
        clauses.append("originator_version = 1")
    if originator_id is not None:
        clauses.append("originator_id = %s")
        params.append(originator_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def stream_events(
    recorder: Any,
    order: Order = "aggregate",
    *,
    batch: int = 5000,
    version1_only: bool = False,
    originator_id: UUID | None = None,
    raw_tuples: bool = False,
) -> Iterator[Any]:
    """Every stored event (or only the version-1 ones), ordered by (originator id, version) or by
    notification id. ``raw_tuples`` yields the database rows untouched (for a reference read rate)."""
    where, params = _where(version1_only, originator_id)
    order_by = "originator_id, originator_version" if order == "aggregate" else "notification_id"
    if is_postgres(recorder):
        yield from _stream_postgres(recorder, where, params, order_by, batch, raw_tuples)
    else:
        if originator_id is not None:
            params = [originator_id.hex if isinstance(originator_id, UUID) else originator_id]
        yield from _stream_sqlite(recorder, where, params, order_by, batch, raw_tuples)


def _stream_postgres(
    recorder: Any, where: str, params: list[Any], order_by: str, batch: int, raw_tuples: bool
) -> Iterator[Any]:
    from psycopg.rows import tuple_row

    statement = f"SELECT {PG_COLUMNS} FROM {table_name(recorder)}{where} ORDER BY {order_by}"
    with recorder.datastore.get_connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        with conn.cursor(name="audit_events", row_factory=tuple_row) as cursor:
            cursor.itersize = batch
            cursor.execute(statement, params)
            while rows := cursor.fetchmany(batch):
                if raw_tuples:
                    yield from rows
                    continue
                for row in rows:
                    yield RawEvent._make(row)


def _stream_sqlite(
    recorder: Any, where: str, params: list[Any], order_by: str, batch: int, raw_tuples: bool
) -> Iterator[Any]:
    columns = COLUMNS.replace("notification_id", "rowid")
    order_by = order_by.replace("notification_id", "rowid")
    statement = f"SELECT {columns} FROM {table_name(recorder)}{where.replace('%s', '?')} ORDER BY {order_by}"
    uuid_ids = recorder.datastore.originator_id_type == "uuid"
    with recorder.datastore.transaction(commit=False) as c:
        cursor = c.sqlite_cursor
        cursor.execute(statement, params)
        while rows := cursor.fetchmany(batch):
            if raw_tuples:
                yield from rows
                continue
            for n, oid, version, topic, state, chain_hash in rows:
                if not isinstance(state, bytes):  # SQLite keeps what it is given: text written over a blob
                    state = str(state).encode("utf-8")
                yield RawEvent(n, uuid_text_from_hex(oid) if uuid_ids else oid, version, topic, state, chain_hash)


def count_events(recorder: Any) -> int:
    rows = recorder.fetch_all(f"SELECT COUNT(*) FROM {recorder.events_table_name}")
    return int(rows[0][0])

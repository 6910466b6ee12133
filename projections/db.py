"""A thin connection for projection tables on SQLite or PostgreSQL.

SQL is written with psycopg's ``%s`` placeholders; on SQLite they become ``?``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


#: Advisory lock key of schema changes (the same as the event store recorder's).
DDL_LOCK = 0x63617368


class ProjectionDB(Protocol):
    dialect: str

    def transaction(self) -> Any: ...
    def schema_transaction(self) -> Any: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def close(self) -> None: ...


class _SQLiteCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("%s", "?"), tuple(params))

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("%s", "?"), [tuple(p) for p in params])

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def fetchone(self) -> Any:
        return self._cursor.fetchone()


class SQLiteProjectionDB:
    """Projection tables in their own SQLite file (never the event store's file)."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteCursor]:
        cursor = self._conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteCursor(cursor)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall()]

    def schema_transaction(self) -> Any:
        """For CREATE statements: BEGIN IMMEDIATE already serialises writers on SQLite."""
        return self.transaction()

    def close(self) -> None:
        self._conn.close()


class PostgresProjectionDB:
    """Projection tables in the event store's PostgreSQL database."""

    dialect = "postgres"

    def __init__(self, dsn: str, schema: str = "public") -> None:
        import psycopg

        self._dsn = dsn
        self._schema = schema
        self._psycopg = psycopg
        self._conn = self._connect()

    def _connect(self) -> Any:
        conn = self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
        conn.execute(f"SET search_path TO {self._schema}")
        return conn

    def _ensure(self) -> None:
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        self._ensure()
        with self._conn.transaction(), self._conn.cursor() as cursor:
            yield cursor

    @contextmanager
    def schema_transaction(self) -> Iterator[Any]:
        """For CREATE statements: processes starting together take turns (CREATE … IF NOT EXISTS
        alone races on the system catalogs)."""
        with self.transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
            yield cursor

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._ensure()
        with self._conn.cursor() as cursor:
            cursor.execute(sql, tuple(params))
            return [tuple(r) for r in cursor.fetchall()]

    def close(self) -> None:
        self._conn.close()

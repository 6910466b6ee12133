"""The portal's read side: per-thread read connections and cheap projection catch-up.

Reads come from the projections. Before a read the projector is caught up when
this process wrote since the last catch-up (read-your-writes) or when the last
catch-up is older than ``staleness`` seconds (writes of other processes: the
feed worker, the CLI), with a time budget so a long backlog never holds a
request for long. One projector runs at a time in the process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import structlog

from cashback.bootstrap import Engine
from projections.db import PostgresProjectionDB, ProjectionDB, SQLiteProjectionDB

log = structlog.get_logger(__name__)


class ReadSide:
    def __init__(self, engine: Engine, *, staleness: float = 0.5, budget: float = 0.25) -> None:
        self.engine = engine
        self.staleness = staleness
        self.budget = budget
        self._projector = engine.projector()
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[ProjectionDB] = []
        self._connections_lock = threading.Lock()
        self._generation = 0
        self._last_sync = 0.0
        self._dirty = True

    # --- connections --------------------------------------------------------------------

    def db(self) -> ProjectionDB:
        """This thread's read connection (SQLite WAL readers do not block each other)."""
        conn = getattr(self._local, "db", None)
        if conn is None or getattr(self._local, "generation", -1) != self._generation:
            settings = self.engine.settings
            if self.engine.read_db.dialect == "sqlite":
                conn = SQLiteProjectionDB(settings.overview_path)
            else:
                conn = PostgresProjectionDB(settings.pg_dsn, settings.pg_schema)
            self._local.db = conn
            self._local.generation = self._generation
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    # --- writes ----------------------------------------------------------------------------

    def write(self) -> Any:
        """Hold while calling the application: one writer at a time in this process."""
        return _WriteGuard(self)

    def wrote(self) -> None:
        self._dirty = True

    # --- freshness ---------------------------------------------------------------------------

    def fresh(self) -> None:
        """Catch the projections up if this process wrote, or if they may be stale."""
        if not self._dirty and time.monotonic() - self._last_sync < self.staleness:
            return
        must_wait = self._dirty
        if not self._lock.acquire(blocking=must_wait):
            return  # another request is catching up right now: good enough for a stale-read
        try:
            self._catch_up()
        finally:
            self._lock.release()

    def _catch_up(self) -> None:
        self._dirty = False
        started = time.monotonic()
        total = 0
        try:
            while n := self._projector.run_once():
                total += n
                if time.monotonic() - started > self.budget:
                    self._dirty = True  # backlog left: the next read continues
                    break
        except Exception as error:  # the read still answers from what is projected
            self._dirty = True
            log.warning("portal_catch_up_failed", error=str(error))
            return
        self._last_sync = time.monotonic()
        if total:
            log.debug("portal_caught_up", events=total, seconds=round(time.monotonic() - started, 4))

    def lag(self) -> int:
        return self._projector.lag()

    def close(self) -> None:
        with self._connections_lock:
            self._generation += 1  # threads open new connections if the app is started again
            for conn in self._connections:
                with contextlib.suppress(Exception):
                    conn.close()
            self._connections.clear()


class _WriteGuard:
    def __init__(self, side: ReadSide) -> None:
        self.side = side

    def __enter__(self) -> None:
        self.side._write_lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.side.wrote()
        self.side._write_lock.release()

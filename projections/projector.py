"""Pull loop over the notification log: rows and tracking position in one transaction.

Works on SQLite (where the library's subscription cannot be used) and on
PostgreSQL. Gaps in notification ids (burnt sequence values) are harmless:
the loop asks for ids greater than the last one it saw.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from projections.db import ProjectionDB
from projections.overview import OverviewProjection, changes_for

log = structlog.get_logger(__name__)


class Projector:
    def __init__(self, app: Any, db: ProjectionDB, projection: OverviewProjection | None = None,
                 batch_size: int = 1000, tracking_name: str | None = None) -> None:
        self.app = app
        self.db = db
        self.projection = projection or OverviewProjection()
        self.batch_size = batch_size
        self.tracking_name = tracking_name or self.projection.name
        self.create_tables()

    def create_tables(self) -> None:
        with self.db.schema_transaction() as cur:
            for statement in self.projection.create_statements():
                cur.execute(statement)

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM projection_tracking WHERE name = %s", (self.tracking_name,))
        return int(rows[0][0]) if rows else 0

    def run_once(self) -> int:
        """Project the next batch of notifications; returns how many were read.

        The tracking row is locked first, so two processes catching up at once
        (a CLI command beside the projector worker) take turns instead of
        writing the same rows twice.
        """
        with self.db.transaction() as cur:
            position = self._lock_position(cur)
            notifications = self.app.recorder.select_notifications(
                start=position, limit=self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            events = [self.app.mapper.to_domain_event(n) for n in notifications]
            for change in changes_for(self.projection, events):
                cur.execute(change.sql, change.params)
            cur.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s AND position = %s",
                (notifications[-1].id, self.tracking_name, position),
            )
        return len(notifications)

    def _lock_position(self, cur: Any) -> int:
        cur.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
            (self.tracking_name,),
        )
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
        cur.execute(f"SELECT position FROM projection_tracking WHERE name = %s{lock}", (self.tracking_name,))
        return int(cur.fetchone()[0])

    def catch_up(self, progress: Any = None) -> int:
        total = 0
        while n := self.run_once():
            total += n
            if progress is not None:
                progress(total)
        return total

    def follow(self, stop: threading.Event, idle_sleep: float = 0.2) -> None:
        log.info("projector_started", projection=self.tracking_name, position=self.position())
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(idle_sleep)
            except Exception as error:
                log.warning("projector_retry", error=str(error))
                stop.wait(1.0)
        log.info("projector_stopped", projection=self.tracking_name, position=self.position())

    def lag(self) -> int:
        head = self.app.recorder.max_notification_id() or 0
        return max(0, head - self.position())


def wait_until_caught_up(projector: Projector, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while projector.run_once():
        if time.monotonic() > deadline:
            raise TimeoutError("projection did not catch up")

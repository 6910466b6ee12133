"""The mail outbox: one row per e-mail in the read database, keyed by a deterministic Message-ID.

Rows are written in the same transaction as the notifications worker's
tracking position (``projection_tracking``, name "notifications"), so an event
gives exactly one row, however often the worker restarts. Sending happens
after: a row stays ``pending`` until the SMTP server accepted it; a crash
between the two sends it again with the same Message-ID.

Statuses: ``pending`` (to send), ``sent``, ``skipped`` (nothing to send any more:
the device moved on before the mail went out; the reason is in last_error).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from projections.db import ProjectionDB

TRACKING_NAME = "notifications"
TABLE = "mail_outbox"
_MESSAGE_NS = uuid5(NAMESPACE_URL, "urn:cashback:mail")

CREATE_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " message_id TEXT PRIMARY KEY, kind TEXT NOT NULL, campaign_id TEXT NOT NULL,"
    " registration_id TEXT NOT NULL, customer_no TEXT NOT NULL, serial TEXT NOT NULL,"
    " recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,"
    " status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    " created_at TEXT NOT NULL, sent_at TEXT)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status, created_at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_serial ON {TABLE} (serial)",
)
COLUMNS = ("message_id", "kind", "campaign_id", "registration_id", "customer_no", "serial", "recipient",
           "subject", "body", "status", "attempts", "last_error", "created_at", "sent_at")

REQUEST = "documents_requested"
REMINDER = "documents_reminder"


def request_message_id(originator_id: UUID | str, version: int, domain: str = "cashback.local") -> str:
    """Message-ID of the e-mail of one DocumentsRequested event (its aggregate id and version)."""
    return f"<{uuid5(_MESSAGE_NS, f'request:{originator_id}:{version}')}@{domain}>"


def reminder_message_id(registration_id: UUID | str, deadline: str, domain: str = "cashback.local") -> str:
    """Message-ID of the one reminder before a given deadline of a device."""
    return f"<{uuid5(_MESSAGE_NS, f'reminder:{registration_id}:{deadline}')}@{domain}>"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    message_id: str
    kind: str
    campaign_id: str
    registration_id: str
    customer_no: str
    serial: str
    recipient: str
    subject: str
    body: str
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    created_at: str = ""
    sent_at: str | None = None

    def params(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in COLUMNS)


_INSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    " ON CONFLICT (message_id) DO NOTHING"
)


class TrackingConflict(RuntimeError):
    """Another process advanced the tracking position first; this batch was rolled back."""


class Outbox:
    def __init__(self, db: ProjectionDB) -> None:
        self.db = db
        for attempt in range(3):
            try:
                with db.schema_transaction() as cur:
                    for statement in CREATE_STATEMENTS:
                        cur.execute(statement)
                return
            except Exception:  # two processes creating the tables at once on PostgreSQL
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    # --- writing ------------------------------------------------------------------

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM projection_tracking WHERE name = %s", (TRACKING_NAME,))
        return int(rows[0][0]) if rows else 0

    def add_with_position(self, rows: Sequence[OutboxRow], previous: int, position: int) -> int:
        """Insert rows (a Message-ID already present is kept as it is) and move the tracking
        position from ``previous`` to ``position`` in one transaction; returns the rows inserted."""
        inserted = 0
        with self.db.transaction() as cur:
            for row in rows:
                inserted += max(0, cur.execute(_INSERT, row.params()).rowcount or 0)
            moved = cur.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
                " WHERE projection_tracking.position = %s",
                (TRACKING_NAME, position, previous),
            ).rowcount
            if moved != 1:
                raise TrackingConflict(f"tracking {TRACKING_NAME} is no longer at {previous}")
        return inserted

    def add(self, rows: Sequence[OutboxRow]) -> int:
        """Insert rows outside the event log's tracking (reminders); an existing Message-ID is kept."""
        inserted = 0
        with self.db.transaction() as cur:
            for row in rows:
                inserted += max(0, cur.execute(_INSERT, row.params()).rowcount or 0)
        return inserted

    # --- sending --------------------------------------------------------------------

    def pending_ids(self, limit: int = 500) -> list[str]:
        return [r[0] for r in self.db.query(
            f"SELECT message_id FROM {TABLE} WHERE status = 'pending' ORDER BY created_at, message_id LIMIT %s",
            (limit,))]

    def claim(self, cur: Any, message_id: str) -> OutboxRow | None:
        """The row if still pending; on PostgreSQL it stays locked until the transaction ends, and a row
        another sender holds is skipped."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgres" else ""
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE message_id = %s AND status = 'pending'{lock}",
                    (message_id,))
        row = cur.fetchone()
        return OutboxRow(*row) if row else None

    @staticmethod
    def mark_sent(cur: Any, message_id: str, sent_at: str) -> None:
        cur.execute(
            f"UPDATE {TABLE} SET status = 'sent', sent_at = %s, attempts = attempts + 1, last_error = NULL"
            " WHERE message_id = %s AND status = 'pending'",
            (sent_at, message_id),
        )

    @staticmethod
    def mark_failed(cur: Any, message_id: str, error: str) -> None:
        cur.execute(
            f"UPDATE {TABLE} SET attempts = attempts + 1, last_error = %s WHERE message_id = %s AND status = 'pending'",
            (error[:1000], message_id),
        )

    @staticmethod
    def mark_skipped(cur: Any, message_id: str, why: str) -> None:
        cur.execute(f"UPDATE {TABLE} SET status = 'skipped', last_error = %s WHERE message_id = %s"
                    " AND status = 'pending'", (why, message_id))

    # --- reading ----------------------------------------------------------------------

    def rows(self, status: str | None = None, serial: str | None = None, limit: int = 100) -> list[OutboxRow]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE 1 = 1"
        params: list[Any] = []
        if status:
            sql += " AND status = %s"
            params.append(status)
        if serial:
            sql += " AND serial = %s"
            params.append(serial)
        sql += " ORDER BY created_at, message_id LIMIT %s"
        params.append(limit)
        return [OutboxRow(*r) for r in self.db.query(sql, params)]

    def counts(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self.db.query(f"SELECT status, COUNT(*) FROM {TABLE} GROUP BY status")}

"""Deadlines worker: rejects DOCS_REQUIRED devices whose document window has passed; queues reminders.

Candidates come from the status overview (``queries.due_for_expiry``); the
aggregate decides (it checks the status and the date again), and the event
store's optimistic concurrency settles races: when another process (a second
worker, an upload, a review) wrote the device first, the save fails with
IntegrityError, the chunk is reloaded and decided again; a device already
rejected is skipped. Each device is rejected exactly once, however many
workers run.

Reminders: ``reminder_days`` before the deadline (0: none), one outbox row per
device and deadline, keyed by a deterministic Message-ID, so it is queued
once; the notifications worker sends it (and skips it if the documents came
in meanwhile).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import IntegrityError

from cashback.outbox import REMINDER, Outbox, OutboxRow, reminder_message_id
from domain.provenance import Channel, Provenance
from domain.registration import DeviceRegistration
from domain.statuses import Status
from projections import queries
from workers.notifications import MailSettings, render_row

log = structlog.get_logger(__name__)


class ExpiryConflicts(RuntimeError):
    """A chunk kept conflicting with other writers."""


@dataclass
class DeadlinesReport:
    today: date
    expired: list[str] = field(default_factory=list)
    candidates: int = 0
    conflicts: int = 0
    reminders: int = 0


class DeadlinesWorker:
    def __init__(
        self,
        app: Any,
        db: Any,
        *,
        projector: Any = None,
        reminder_days: int = 3,
        mail: MailSettings | None = None,
        chunk_size: int = 200,
        max_attempts: int = 10,
    ) -> None:
        self.app = app
        self.db = db
        self.projector = projector
        self.reminder_days = reminder_days
        self.mail = mail or MailSettings()
        self.chunk_size = chunk_size
        self.max_attempts = max_attempts
        self.outbox = Outbox(db) if reminder_days > 0 else None

    def run_once(self) -> DeadlinesReport:
        if self.projector is not None:
            try:
                self.projector.catch_up()
            except Exception as error:  # a lagging read model only delays; the aggregate decides anyway
                log.warning("deadlines_projection_catch_up_failed", error=str(error))
        today = self.app.today()
        report = DeadlinesReport(today=today)
        candidates = queries.due_for_expiry(self.db, self.app.terms.id, today.isoformat())
        report.candidates = len(candidates)
        by = Provenance(actor="deadlines-worker", channel=Channel.SYSTEM, source=f"deadline-check:{today.isoformat()}")
        for start in range(0, len(candidates), self.chunk_size):
            self._expire_chunk([UUID(c) for c in candidates[start:start + self.chunk_size]], by, report)
        if self.outbox is not None:
            report.reminders = self._queue_reminders(today)
        return report

    def _expire_chunk(self, ids: list[UUID], by: Provenance, report: DeadlinesReport) -> None:
        for attempt in range(1, self.max_attempts + 1):
            today, at = self.app.today(), self.app.now()
            due: list[DeviceRegistration] = []
            for rid in ids:
                registration: DeviceRegistration = self.app.repository.get(rid)
                if registration.expire(today=today, by=by, at=at):
                    due.append(registration)
            if not due:
                return
            try:
                self.app.save(*due)
            except IntegrityError as error:  # someone else wrote one of them first: reload and decide again
                report.conflicts += 1
                log.info("deadlines_conflict_retry", attempt=attempt, error=str(error)[:200])
                continue
            for registration in due:
                report.expired.append(registration.serial)
                log.info("documents_not_provided", serial=registration.serial, company=registration.customer_no,
                         deadline=str(registration.deadline))
            return
        raise ExpiryConflicts(f"{len(ids)} devices kept conflicting after {self.max_attempts} attempts")

    def _queue_reminders(self, today: date) -> int:
        window = self.app.terms.document_window_days
        if self.reminder_days >= window:  # the request e-mail itself is the reminder
            return 0
        rows = self.db.query(
            "SELECT registration_id, customer_no, serial, device_type, deadline, documents, reason, amount_cents"
            " FROM overview WHERE campaign_id = %s AND status = %s AND is_owner = 1"
            " AND deadline >= %s AND deadline <= %s ORDER BY deadline, serial",
            (self.app.terms.id, str(Status.DOCS_REQUIRED), today.isoformat(),
             (today + timedelta(days=self.reminder_days)).isoformat()),
        )
        if not rows:
            return 0
        assert self.outbox is not None
        domain = self.mail.message_id_domain
        ids = [reminder_message_id(r[0], r[4], domain) for r in rows]
        existing: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            existing.update(r[0] for r in self.db.query(
                "SELECT message_id FROM mail_outbox WHERE message_id IN (" + ", ".join(["%s"] * len(part)) + ")",
                part))
        enrolments = self.app.enrolments()
        new: list[OutboxRow] = []
        for message_id, (rid, customer_no, serial, device_type, deadline, documents, reasons, amount) in zip(
                ids, rows, strict=True):
            if message_id in existing:
                continue
            new.append(render_row(
                self.app, self.mail, kind=REMINDER, message_id=message_id, registration_id=rid,
                customer_no=customer_no, serial=serial, device_type=device_type,
                documents=self._still_missing(serial, [d for d in (documents or "").split(",") if d]),
                reasons=[r for r in (reasons or "").split(",") if r], deadline=date.fromisoformat(deadline),
                amount_cents=int(amount), enrolment=enrolments.get(customer_no),
            ))
        inserted = self.outbox.add(new) if new else 0
        for row in new:
            log.info("reminder_queued", serial=row.serial, company=row.customer_no, message_id=row.message_id)
        return inserted

    def _still_missing(self, serial: str, needed: list[str]) -> list[str]:
        """A reminder asks only for what has not come in (one of two documents may be there already)."""
        registration = self.app.get_registration(serial)
        missing = list(registration.documents_missing) if registration is not None else []
        return missing or needed

    def follow(self, stop: threading.Event, interval: float = 60.0) -> None:
        log.info("deadlines_worker_started")
        while not stop.is_set():
            try:
                report = self.run_once()
                if report.expired or report.reminders:
                    log.info("deadlines_pass", today=str(report.today), expired=len(report.expired),
                             reminders=report.reminders, conflicts=report.conflicts)
            except Exception as error:  # a worker must survive a database restart
                log.warning("deadlines_worker_retry", error=str(error))
            stop.wait(interval)
        log.info("deadlines_worker_stopped")

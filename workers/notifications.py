"""Notifications worker: document-request e-mails, from the event log through the outbox to SMTP.

1. Follow the notification log with its own tracking position ("notifications"
   in ``projection_tracking``); for each ``DocumentsRequested`` write one outbox
   row, in the same transaction as the new position: a restart never loses or
   doubles a row.
2. Send the pending rows (reminders included) and mark each sent. A crash
   between the SMTP server's "250" and the mark sends it again, with the same
   Message-ID, so receivers can de-duplicate. A failing server: the row stays
   pending, its attempts and last error are recorded, the next try waits
   (doubling from ``retry_base`` up to ``retry_max``).

On PostgreSQL a row is locked (``FOR UPDATE SKIP LOCKED``) while it is sent,
so several workers never send the same row at the same time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from adapters.mail import MailError, build_message
from cashback.mail_texts import render
from cashback.outbox import COLUMNS, REQUEST, Outbox, OutboxRow, TrackingConflict, request_message_id
from domain.enrolment import Enrolment
from domain.registration import DeviceRegistration
from domain.statuses import Status

log = structlog.get_logger(__name__)


class Mailer(Protocol):
    def send(self, message: Any) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MailSettings:
    """What the e-mails need from the settings (read once at the entry point)."""

    language: str = "fr"
    from_address: str = "Cashback <cashback@localhost>"
    upload_url: str = "http://127.0.0.1:8000/"
    message_id_domain: str = "cashback.local"
    max_upload_bytes: int = 10 * 1024 * 1024
    retry_base: float = 5.0
    retry_max: float = 900.0

    @classmethod
    def from_settings(cls, settings: Any) -> MailSettings:
        return cls(
            language=settings.language, from_address=settings.mail_from, upload_url=settings.upload_url,
            message_id_domain=settings.mail_message_id_domain, max_upload_bytes=settings.max_upload_bytes,
            retry_base=settings.mail_retry_base_seconds, retry_max=settings.mail_retry_max_seconds,
        )


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def still_waiting(app: Any, serial: str) -> str | None:
    """None when the device still waits for documents; otherwise why a mail about it is pointless now."""
    registration: DeviceRegistration | None = app.get_registration(serial)
    if registration is None:
        return "device not found"
    if registration.status != Status.DOCS_REQUIRED:
        return f"device is {registration.status} now"
    if registration.deadline is not None and app.today() > registration.deadline:
        return f"the deadline {registration.deadline:%d/%m/%Y} has passed"
    return None


def render_row(
    app: Any, mail: MailSettings, *, kind: str, message_id: str, registration_id: str, customer_no: str,
    serial: str, device_type: str, documents: list[str], reasons: list[str], deadline: Any, amount_cents: int,
    enrolment: Enrolment | None,
) -> OutboxRow:
    text = render(
        reminder=kind != REQUEST, language=mail.language, terms=app.terms,
        company=enrolment.name if enrolment else customer_no, device_type=device_type, serial=serial,
        documents=documents, reasons=reasons, deadline=deadline, amount_cents=amount_cents,
        upload_url=mail.upload_url, max_upload_bytes=mail.max_upload_bytes,
    )
    return OutboxRow(
        message_id=message_id, kind=kind, campaign_id=app.terms.id, registration_id=registration_id,
        customer_no=customer_no, serial=serial, recipient=str(enrolment.contact_email) if enrolment else "",
        subject=text.subject, body=text.body, status="pending" if enrolment else "skipped",
        last_error=None if enrolment else f"company {customer_no} has no contact address",
        created_at=app.now().isoformat(),
    )


class NotificationsWorker:
    def __init__(
        self,
        app: Any,
        db: Any,
        mailer_factory: Callable[[], Mailer],
        mail: MailSettings | None = None,
        *,
        batch_size: int = 500,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.db = db
        self.outbox = Outbox(db)
        self.mailer_factory = mailer_factory
        self.mail = mail or MailSettings()
        self.batch_size = batch_size
        self.monotonic = monotonic
        self._not_before: dict[str, float] = {}
        self._server_not_before = 0.0
        self._server_failures = 0

    # --- 1. event log → outbox ------------------------------------------------------

    def enqueue_once(self) -> int:
        """Turn the next batch of the event log into outbox rows; returns how many notifications were read."""
        position = self.outbox.position()
        notifications = self.app.recorder.select_notifications(
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        rows: list[OutboxRow] = []
        enrolments: dict[str, Enrolment] | None = None
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            if isinstance(event, DeviceRegistration.DocumentsRequested):
                if enrolments is None:
                    enrolments = self.app.enrolments()
                rows.append(self._request_row(event, enrolments))
        inserted = self.outbox.add_with_position(rows, position, notifications[-1].id)
        for row in rows:
            log.info("mail_queued", serial=row.serial, company=row.customer_no, message_id=row.message_id,
                     kind=row.kind, status=row.status, reason=row.last_error)
        if rows and inserted != len(rows):
            log.info("mail_already_queued", count=len(rows) - inserted)
        return len(notifications)

    def _request_row(self, event: Any, enrolments: dict[str, Enrolment]) -> OutboxRow:
        registration: DeviceRegistration = self.app.repository.get(event.originator_id)
        row = render_row(
            self.app, self.mail, kind=REQUEST,
            message_id=request_message_id(event.originator_id, event.originator_version, self.mail.message_id_domain),
            registration_id=str(event.originator_id), customer_no=registration.customer_no,
            serial=registration.serial, device_type=registration.device_type, documents=list(event.documents),
            reasons=list(event.reasons), deadline=event.deadline, amount_cents=registration.amount_cents,
            enrolment=enrolments.get(registration.customer_no),
        )
        if row.status == "pending" and (why := still_waiting(self.app, registration.serial)):
            row = OutboxRow(**{**_as_dict(row), "status": "skipped", "last_error": why})
        return row

    def catch_up(self) -> int:
        total = 0
        conflicts = 0
        while True:
            try:
                n = self.enqueue_once()
            except TrackingConflict as error:  # another worker took this batch: read from its position
                conflicts += 1
                log.info("notifications_tracking_conflict", error=str(error))
                if conflicts > 20:
                    raise
                continue
            if n == 0:
                return total
            total += n

    # --- 2. outbox → SMTP ---------------------------------------------------------------

    def send_pending(self, *, respect_backoff: bool = False, limit: int = 500) -> SendReport:
        """One pass over the pending rows. With ``respect_backoff`` rows (and a server) that failed
        recently wait for their retry time; without it everything pending is tried once."""
        report = SendReport()
        now = self.monotonic()
        if respect_backoff and now < self._server_not_before:
            report.deferred = len(self.outbox.pending_ids(limit))
            return report
        mailer: Mailer | None = None
        try:
            for message_id in self.outbox.pending_ids(limit):
                if respect_backoff and self._not_before.get(message_id, 0.0) > now:
                    report.deferred += 1
                    continue
                if mailer is None:
                    mailer = self.mailer_factory()
                outcome = self._send_one(message_id, mailer)
                if outcome == "sent":
                    report.sent += 1
                elif outcome == "skipped":
                    report.skipped += 1
                elif isinstance(outcome, MailError):
                    report.failed += 1
                    report.errors.append(f"{message_id}: {outcome}")
                    if outcome.connection:  # the server is down: stop this pass, wait before the next
                        self._server_failures += 1
                        self._server_not_before = self.monotonic() + self._delay(self._server_failures)
                        break
            else:
                self._server_failures = 0
        finally:
            if mailer is not None:
                mailer.close()
        return report

    @contextmanager
    def _claimed(self, message_id: str) -> Iterator[tuple[OutboxRow | None, Callable[[Callable[[Any], None]], None]]]:
        """The pending row, and a function to record its outcome.

        PostgreSQL: the row is locked for the whole send and the outcome is written in the same
        transaction. SQLite (one worker, embedded): no write lock is held during the SMTP
        conversation; the outcome is written right after it.
        """
        if self.db.dialect == "postgres":
            with self.db.transaction() as cur:
                yield self.outbox.claim(cur, message_id), lambda write: write(cur)
        else:
            found = self.db.query(
                f"SELECT {', '.join(COLUMNS)} FROM mail_outbox WHERE message_id = %s AND status = 'pending'",
                (message_id,))

            def record(write: Callable[[Any], None]) -> None:
                with self.db.transaction() as cur:
                    write(cur)

            yield (OutboxRow(*found[0]) if found else None), record

    def _send_one(self, message_id: str, mailer: Mailer) -> str | MailError:
        with self._claimed(message_id) as (row, record):
            if row is None:
                return "gone"  # sent or skipped by another worker meanwhile
            bound = log.bind(serial=row.serial, company=row.customer_no, message_id=row.message_id, kind=row.kind)
            why = still_waiting(self.app, row.serial)
            if why:
                record(lambda cur: Outbox.mark_skipped(cur, message_id, why))
                bound.info("mail_skipped", reason=why)
                return "skipped"
            message = build_message(
                from_address=self.mail.from_address, recipient=row.recipient, subject=row.subject, body=row.body,
                message_id=row.message_id, date=self.app.now(),
                headers={"X-Cashback-Serial": row.serial, "X-Cashback-Kind": row.kind},
            )
            try:
                mailer.send(message)
            except MailError as error:
                failure = str(error)
                record(lambda cur: Outbox.mark_failed(cur, message_id, failure))
                attempts = row.attempts + 1
                delay = self._delay(attempts)
                self._not_before[message_id] = self.monotonic() + delay
                bound.warning("mail_failed", attempts=attempts, retry_in_seconds=round(delay, 1), error=str(error),
                              server_down=error.connection)
                return error
            record(lambda cur: Outbox.mark_sent(cur, message_id, self.app.now().isoformat()))
            self._not_before.pop(message_id, None)
            bound.info("mail_sent", recipient=row.recipient, attempts=row.attempts + 1)
            return "sent"

    def _delay(self, attempts: int) -> float:
        return float(min(self.mail.retry_base * 2 ** max(0, attempts - 1), self.mail.retry_max))

    # --- loop ------------------------------------------------------------------------------

    def run_once(self) -> tuple[int, SendReport]:
        return self.catch_up(), self.send_pending()

    def follow(self, stop: threading.Event, idle_sleep: float = 1.0) -> None:
        log.info("notifications_worker_started", position=self.outbox.position())
        while not stop.is_set():
            try:
                read = self.catch_up()
                report = self.send_pending(respect_backoff=True)
            except Exception as error:  # a worker must survive a database restart
                log.warning("notifications_worker_retry", error=str(error))
                stop.wait(max(idle_sleep, 1.0))
                continue
            if read == 0 and report.sent == 0 and report.skipped == 0:
                stop.wait(idle_sleep)
        log.info("notifications_worker_stopped", position=self.outbox.position())


def _as_dict(row: OutboxRow) -> dict[str, Any]:
    return {c: getattr(row, c) for c in COLUMNS}

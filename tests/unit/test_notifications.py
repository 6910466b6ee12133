"""The notifications and deadlines workers on SQLite, with a mailer that records what it is given."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from adapters.mail import MailError
from cashback.app import CashbackApp, Intake
from cashback.clock import FixedClock
from cashback.outbox import Outbox, request_message_id
from domain.catalog import CatalogEntry, InMemoryCatalog
from domain.decision import RegistrationRequest
from domain.ids import registration_id
from domain.provenance import Channel, Provenance
from domain.statuses import Reason, Status
from domain.terms import DocumentKind
from projections.db import SQLiteProjectionDB
from projections.projector import Projector
from tests.unit.conftest import (
    CAMPAIGN,
    CATALOG_ENTRIES,
    ENROLLED,
    ENROLMENTS,
    FEED,
    PAYABLE_SB3,
    SB3,
    SOLD_ABROAD,
    STAFF,
    build_app,
)
from workers.deadlines import DeadlinesWorker
from workers.notifications import MailSettings, NotificationsWorker

NOW = datetime.fromisoformat("2026-06-01T10:00:00+02:00")
MAIL = MailSettings(from_address="Cashback <cashback@maker.example>", upload_url="https://cashback.example/up",
                    retry_base=10, retry_max=60)


class Recorder:
    """A mailer: keeps the messages; can be told to fail the next sends."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: list[MailError] = []
        self.opened = 0

    def __call__(self) -> Recorder:
        self.opened += 1
        return self

    def send(self, message: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    def close(self) -> None:
        pass


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app() -> CashbackApp:
    return build_app(NOW)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteProjectionDB]:
    database = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    yield database
    database.close()


def register(app: CashbackApp, *serials: str) -> None:
    app.register_batch([
        Intake(RegistrationRequest(serial=s, device_type=SB3, installed_on=date(2026, 5, 4), customer_no=ENROLLED),
               FEED)
        for s in serials
    ])


def test_one_e_mail_per_document_request_with_a_deterministic_message_id(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD, PAYABLE_SB3)
    mailer = Recorder()
    worker = NotificationsWorker(app, db, mailer, MAIL)
    head = app.recorder.max_notification_id()
    read, report = worker.run_once()
    assert (read, report.sent) == (head, 1)  # every event read, one DocumentsRequested
    (message,) = mailer.sent
    rid = registration_id(CAMPAIGN, SOLD_ABROAD)
    assert message["Message-ID"] == request_message_id(rid, 2) == request_message_id(str(rid), 2)
    assert message["To"] == ENROLMENTS[0].contact_email
    assert message["From"] == "Cashback <cashback@maker.example>"
    assert message["Subject"] == f"Cashback : documents requis pour l'appareil {SB3} n° {SOLD_ABROAD}"
    body = message.get_content()
    assert "facture" in body and "15/06/2026" in body and "https://cashback.example/up" in body
    assert message["Date"] == "Mon, 01 Jun 2026 10:00:00 +0200"

    # Again, and with a fresh worker (a restart): nothing new is queued or sent.
    assert worker.run_once()[1].sent == 0
    read, report = NotificationsWorker(app, db, mailer, MAIL).run_once()
    assert (read, report.sent) == (0, 0)
    assert len(mailer.sent) == 1
    assert db.query("SELECT position FROM projection_tracking WHERE name = 'notifications'") == [(head,)]
    (row,) = Outbox(db).rows()
    contact = ENROLMENTS[0].contact_email
    assert (row.status, row.attempts, row.recipient, row.serial) == ("sent", 1, contact, SOLD_ABROAD)


def test_english_e_mails_when_the_language_is_english(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD)
    mailer = Recorder()
    NotificationsWorker(app, db, mailer, MailSettings(language="en")).run_once()
    (message,) = mailer.sent
    assert message["Subject"] == f"Cashback: documents needed for device {SB3}, serial {SOLD_ABROAD}"
    assert "invoice" in message.get_content()


def test_a_crash_after_sending_sends_again_with_the_same_message_id(
    app: CashbackApp, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(app, SOLD_ABROAD)
    mailer = Recorder()

    def crash(*args: Any) -> None:
        raise SystemExit("killed between the SMTP 250 and the mark")

    with monkeypatch.context() as patched:
        patched.setattr(Outbox, "mark_sent", staticmethod(crash))
        with pytest.raises(SystemExit):
            NotificationsWorker(app, db, mailer, MAIL).run_once()
    assert [r.status for r in Outbox(db).rows()] == ["pending"]
    NotificationsWorker(app, db, mailer, MAIL).run_once()
    first, second = mailer.sent
    assert first["Message-ID"] == second["Message-ID"]
    assert [r.status for r in Outbox(db).rows()] == ["sent"]


def test_a_refused_message_stays_pending_and_is_retried_with_backoff(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD)
    mailer, ticker = Recorder(), Ticker()
    mailer.failures.append(MailError("451 4.3.0 try again later", connection=False))
    worker = NotificationsWorker(app, db, mailer, MAIL, monotonic=ticker)
    worker.catch_up()
    report = worker.send_pending(respect_backoff=True)
    assert (report.sent, report.failed) == (0, 1)
    (row,) = Outbox(db).rows()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "451 4.3.0 try again later")

    ticker.now += 9  # first retry after retry_base = 10 s
    assert worker.send_pending(respect_backoff=True).deferred == 1
    mailer.failures.append(MailError("451 again", connection=False))
    ticker.now += 1
    assert worker.send_pending(respect_backoff=True).failed == 1
    ticker.now += 19  # then 20 s
    assert worker.send_pending(respect_backoff=True).deferred == 1
    ticker.now += 1
    assert worker.send_pending(respect_backoff=True).sent == 1
    (row,) = Outbox(db).rows()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    assert len(mailer.sent) == 1


def test_an_unreachable_server_stops_the_pass_and_loses_nothing(app: CashbackApp, db: Any) -> None:
    other = "3001000006"
    app.catalog = InMemoryCatalog([*CATALOG_ENTRIES, CatalogEntry(other, SB3, date(2025, 10, 1), "BE")])
    register(app, SOLD_ABROAD, other)
    mailer, ticker = Recorder(), Ticker()
    mailer.failures.append(MailError("SMTP 127.0.0.1:25: ConnectionRefusedError", connection=True))
    worker = NotificationsWorker(app, db, mailer, MAIL, monotonic=ticker)
    worker.catch_up()
    report = worker.send_pending(respect_backoff=True)
    assert (report.sent, report.failed) == (0, 1), "the second message is not tried against a dead server"
    assert sorted(r.attempts for r in Outbox(db).rows()) == [0, 1]
    assert worker.send_pending(respect_backoff=True).deferred == 2
    ticker.now += 60
    assert worker.send_pending(respect_backoff=True).sent == 2
    assert {r.status for r in Outbox(db).rows()} == {"sent"}


def test_no_request_e_mail_once_the_documents_are_in(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD)
    mailer = Recorder()
    worker = NotificationsWorker(app, db, mailer, MAIL)
    worker.catch_up()
    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "c" * 64, 100, Provenance("bob", Channel.MANUAL, "t"))
    report = worker.send_pending()
    assert (report.sent, report.skipped) == (0, 1)
    (row,) = Outbox(db).rows()
    assert (row.status, row.last_error) == ("skipped", "device is DOCS_UPLOADED now")
    assert mailer.sent == []


def deadlines(app: CashbackApp, db: Any, reminder_days: int = 3) -> DeadlinesWorker:
    return DeadlinesWorker(app, db, projector=Projector(app, db), reminder_days=reminder_days, mail=MAIL)


def fixed_clock(app: CashbackApp) -> FixedClock:
    assert isinstance(app.clock, FixedClock)
    return app.clock


def requests_sent(app: CashbackApp, db: Any) -> tuple[Recorder, NotificationsWorker]:
    """A notifications worker that has sent the document requests queued so far, and its mailer."""
    mailer = Recorder()
    notifications = NotificationsWorker(app, db, mailer, MAIL)
    notifications.run_once()
    return mailer, notifications


def test_a_reminder_three_days_before_the_deadline_is_queued_and_sent_once(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD)  # deadline 15/06/2026
    mailer, notifications = requests_sent(app, db)
    clock = fixed_clock(app)
    clock.at = datetime.fromisoformat("2026-06-11T23:59:00+02:00")
    assert deadlines(app, db).run_once().reminders == 0
    clock.at = datetime.fromisoformat("2026-06-12T08:00:00+02:00")
    assert deadlines(app, db).run_once().reminders == 1
    assert deadlines(app, db).run_once().reminders == 0
    clock.advance(days=1)
    assert deadlines(app, db).run_once().reminders == 0, "one reminder per deadline"
    notifications.run_once()
    request, reminder = mailer.sent
    assert reminder["Subject"] == (
        f"Rappel : documents à fournir avant le 15/06/2026 pour l'appareil {SB3} n° {SOLD_ABROAD}")
    assert reminder["Message-ID"] != request["Message-ID"]
    assert notifications.run_once()[1].sent == 0
    assert deadlines(app, db, reminder_days=0).run_once().reminders == 0


def test_a_reminder_asks_only_for_the_documents_still_missing(db: Any) -> None:
    from tests.unit.conftest import both_documents_terms, build_app

    app = build_app(terms=both_documents_terms())
    register(app, SOLD_ABROAD)  # deadline 15/06/2026, both documents asked for
    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "e" * 64, 100, Provenance("bob", Channel.MANUAL, "t"))
    mailer, notifications = requests_sent(app, db)
    fixed_clock(app).at = datetime.fromisoformat("2026-06-12T08:00:00+02:00")
    assert deadlines(app, db).run_once().reminders == 1
    notifications.run_once()
    request, reminder = mailer.sent
    assert "facture" in request.get_content() and "procès-verbal de mise en service" in request.get_content()
    body = reminder.get_content()
    assert "procès-verbal de mise en service" in body and "facture" not in body


def test_the_deadlines_worker_rejects_the_day_after_the_deadline_only(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD, PAYABLE_SB3)
    clock = fixed_clock(app)
    clock.at = datetime.fromisoformat("2026-06-15T23:59:59+02:00")
    report = deadlines(app, db).run_once()
    assert report.expired == []
    clock.at += timedelta(seconds=1)
    report = deadlines(app, db).run_once()
    assert report.expired == [SOLD_ABROAD]
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    assert (registration.status, registration.reason) == (Status.REJECTED, Reason.DOCS_NOT_PROVIDED)
    assert app.get_registration(PAYABLE_SB3).status == Status.PAYMENT_PENDING  # type: ignore[union-attr]
    assert deadlines(app, db).run_once().expired == [], "idempotent"


def test_the_deadlines_worker_leaves_devices_whose_documents_arrived(app: CashbackApp, db: Any) -> None:
    register(app, SOLD_ABROAD)
    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "d" * 64, 100, Provenance("bob", Channel.MANUAL, "t"))
    app.clock.advance(days=30)  # type: ignore[attr-defined]
    assert deadlines(app, db).run_once().expired == []
    assert app.approve(SOLD_ABROAD, STAFF).status == Status.PAYMENT_PENDING

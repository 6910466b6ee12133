"""Issue #4 on PostgreSQL with a real SMTP server in the test run: document request e-mail, upload,
review, deadlines, and the outbox's guarantees (one e-mail per request, the same Message-ID after a
crash, nothing lost while the mail server is down)."""

from __future__ import annotations

import csv
import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cashback.outbox import request_message_id
from domain.ids import registration_id
from tests.integration.conftest import ROOT, TYPES, World

CAMPAIGN = "fr-2026"
COMPANY = "200001"
#: Sold in Germany: the example campaign asks for the invoice (SOLD_IN_OTHER_COUNTRY).
ABROAD = [f"5{n:09d}" for n in range(1, 401)]
#: Produced before 01/09/2024 and sold in France: invoice and commissioning report (OLD_STOCK).
OLD_STOCK = "5100000001"
PAYABLE = "4000000003"  # in the world's catalog, sold in France: no documents needed
UPLOAD_URL = "https://cashback.example/documents"

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def type_of(serial: str) -> str:
    """The device type the test catalogs give a serial."""
    return TYPES[int(serial[-6:]) % len(TYPES)]


def text_of(message: EmailMessage) -> str:
    """The body as the reader sees it (line ends as on this machine)."""
    return str(message.get_content()).replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """An SMTP server's handler: keeps every message it accepts."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    on_message: Callable[[EmailMessage], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        if self.on_message is not None:
            self.on_message(message)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for _, m in self.messages]


@dataclass
class Docs:
    world: World
    inbox: Inbox
    port: int
    controller: Controller | None = None

    def start_smtp(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop_smtp(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def cli_at(self, now: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cashback.cli", "--now", now, *args], env=self.world.env,
                              cwd=ROOT, capture_output=True, text=True, check=check, timeout=300)

    def register(self, serial: str, device_type: str | None = None) -> str:
        device_type = device_type or type_of(serial)
        out = self.world.cli("register", "--company", COMPANY, "--serial", serial, "--type", device_type,
                             "--installed-on", "2026-06-01").stdout
        return out

    def status(self, serial: str) -> tuple[str, str | None]:
        self.world.cli("project")
        (row,) = self.world.sql("SELECT status, reason FROM overview WHERE serial = %s AND is_owner = 1", (serial,))
        return row[0], row[1]

    def outbox(self) -> list[tuple[Any, ...]]:
        return self.world.sql("SELECT serial, status, attempts, message_id, last_error FROM mail_outbox"
                              " ORDER BY serial, kind")

    @property
    def documents(self) -> Path:
        return self.world.tmp / "data" / "documents"

    def stored_files(self) -> list[Path]:
        return sorted(p for p in self.documents.rglob("*") if p.is_file()) if self.documents.exists() else []

    def file(self, name: str, content: bytes) -> Path:
        path = self.world.tmp / "uploads" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        return path

    def events(self, kind: str) -> list[dict[str, Any]]:
        rows = self.world.sql("SELECT state FROM cashback_events WHERE topic LIKE %s ORDER BY notification_id",
                              (f"%DeviceRegistration.{kind}",))
        return [json.loads(bytes(r[0])) for r in rows]


@pytest.fixture
def docs(world: World) -> Iterator[Docs]:
    with (world.tmp / "catalog.csv").open("a", newline="") as handle:
        writer = csv.writer(handle)
        for serial in ABROAD:
            writer.writerow([serial, type_of(serial), "2025-06-01", "DE"])
        writer.writerow([OLD_STOCK, "SB5.0-1AV-41", "2024-06-01", "FR"])
    port = free_port()
    world.env.update({
        "CASHBACK_SMTP_HOST": "127.0.0.1",
        "CASHBACK_SMTP_PORT": str(port),
        "CASHBACK_SMTP_SECURITY": "none",
        "CASHBACK_SMTP_TIMEOUT": "10",
        "CASHBACK_MAIL_FROM": "Cashback Installateurs <cashback@maker.example>",
        "CASHBACK_UPLOAD_URL": UPLOAD_URL,
        "CASHBACK_MAIL_RETRY_BASE_SECONDS": "0.2",
        "CASHBACK_MAIL_RETRY_MAX_SECONDS": "1",
        "CASHBACK_WORKER_INTERVAL_SECONDS": "0.2",
    })
    d = Docs(world=world, inbox=Inbox(), port=port)
    d.start_smtp()
    yield d
    world.stop_all()
    d.stop_smtp()


def test_document_request_e_mail_then_upload_review_and_payment_pending(docs: Docs) -> None:
    world, inbox = docs.world, docs.inbox
    serial = ABROAD[0]
    assert "DOCS_REQUIRED SOLD_IN_OTHER_COUNTRY" in docs.register(serial)

    out = world.cli("worker", "notifications", "--once").stdout
    assert "e-mails sent: 1" in out
    ((recipients, message),) = inbox.messages
    assert recipients == ["contact@200001.example"]
    assert message["To"] == "contact@200001.example"
    assert message["From"] == "Cashback Installateurs <cashback@maker.example>"
    device_type = type_of(serial)
    assert message["Subject"] == f"Cashback : documents requis pour l'appareil {device_type} n° {serial}"
    assert message["Message-ID"] == request_message_id(registration_id(CAMPAIGN, serial), 2)
    assert re.fullmatch(r"<[0-9a-f-]{36}@cashback\.local>", message["Message-ID"])
    body = text_of(message)
    for expected in ("Bonjour Installateur 200001", device_type, serial, "  - facture\n",
                     "vendu dans un autre pays", "au plus tard le 15/12/2026", UPLOAD_URL):
        assert expected in body, expected

    # Run again (and once more as the other command): no second e-mail.
    assert "e-mails sent: 0" in world.cli("worker", "notifications", "--once").stdout
    assert "e-mails sent: 0" in world.cli("notifications", "send-pending").stdout
    assert len(inbox.messages) == 1
    assert docs.outbox() == [(serial, "sent", 1, message["Message-ID"], None)]
    head = world.sql("SELECT MAX(notification_id) FROM cashback_events")[0][0]
    assert world.sql("SELECT position FROM projection_tracking WHERE name = 'notifications'") == [(head,)]

    # Bad uploads: refused with the reason, exit code 2, nothing stored, status unchanged.
    exe = docs.file("facture.pdf", EXE)
    refused = world.cli("documents", "upload", serial, str(exe), "--kind", "invoice", check=False)
    assert refused.returncode == 2
    assert "not a PDF, JPEG or PNG" in refused.stderr and "nothing stored" in refused.stderr
    big = docs.file("scan.pdf", PDF + b"0" * (10 * 1024 * 1024))
    refused = world.cli("documents", "upload", serial, str(big), "--kind", "invoice", check=False)
    assert refused.returncode == 2 and "larger than the limit of 10 MiB" in refused.stderr
    empty = docs.file("empty.pdf", b"")
    refused = world.cli("documents", "upload", serial, str(empty), "--kind", "invoice", check=False)
    assert refused.returncode == 2 and "empty" in refused.stderr
    docs.register(PAYABLE)
    pdf = docs.file("facture-2026-118.pdf", PDF)
    refused = world.cli("documents", "upload", PAYABLE, str(pdf), "--kind", "invoice", check=False)
    assert refused.returncode == 2 and f"{PAYABLE}: documents cannot be uploaded — no documents are needed" in (
        refused.stderr)
    refused = world.cli("documents", "upload", "4999999999", str(pdf), "--kind", "invoice", check=False)
    assert refused.returncode == 2 and "4999999999 is not registered" in refused.stderr
    assert docs.stored_files() == []
    assert docs.status(serial) == ("DOCS_REQUIRED", "SOLD_IN_OTHER_COUNTRY")

    # A PNG named .pdf: recognised by its content, stored as .png under its sha256.
    png = docs.file("facture.pdf", PNG)
    out = world.cli("documents", "upload", serial, str(png), "--kind", "invoice", "--actor", "bob@200001.example")
    assert "status DOCS_UPLOADED" in out.stdout
    (stored,) = docs.stored_files()
    assert stored.suffix == ".png" and stored.read_bytes() == PNG
    assert stored.relative_to(docs.documents).parts[:2] == (stored.stem[:2], stored.stem[2:4])
    assert docs.status(serial)[0] == "DOCS_UPLOADED"
    assert "already received" in world.cli("documents", "upload", serial, str(png), "--kind", "invoice").stdout
    assert len(docs.events("DocumentUploaded")) == 1
    assert docs.events("DocumentUploaded")[0]["actor"] == "bob@200001.example"

    # Staff review.
    listing = world.cli("review", "list").stdout
    assert "1 device(s) waiting for review" in listing
    assert all(part in listing for part in (COMPANY, "Installateur 200001", serial, device_type, "facture",
                                            str(stored)))
    approved = world.cli("review", "approve", serial, "--reviewer", "alice@maker.example").stdout
    amount = {"SB3.0-1AV-41": "50,00 €", "SB5.0-1AV-41": "75,00 €", "HM-20": "25,00 €"}[device_type]
    assert approved.strip() == f"{serial}: PAYMENT_PENDING {amount} (approved by alice@maker.example)"
    assert docs.status(serial)[0] == "PAYMENT_PENDING"
    assert world.sql("SELECT amount_cents FROM overview WHERE serial = %s", (serial,))[0][0] > 0
    assert [e["actor"] for e in docs.events("DocumentsApproved")] == ["alice@maker.example"]
    assert "0 device(s) waiting for review" in world.cli("review", "list").stdout
    again = world.cli("review", "approve", serial, check=False)
    assert again.returncode == 2 and "only devices in DOCS_UPLOADED are reviewed" in again.stderr

    # Nothing more to send after all this.
    assert "e-mails sent: 0" in world.cli("notifications", "send-pending").stdout
    assert len(inbox.messages) == 1


def test_refused_documents_reject_the_device_with_the_reviewers_note(docs: Docs) -> None:
    world = docs.world
    assert "DOCS_REQUIRED OLD_STOCK" in docs.register(OLD_STOCK, "SB5.0-1AV-41")
    world.cli("notifications", "send-pending")
    ((_, message),) = docs.inbox.messages
    body = text_of(message)
    assert "  - facture\n" in body and "  - procès-verbal de mise en service\n" in body and "stock ancien" in body
    world.cli("documents", "upload", OLD_STOCK, str(docs.file("pv.jpg", b"\xff\xd8\xff\xe0" + b"1" * 100)),
              "--kind", "commissioning_report")
    out = world.cli("review", "reject", OLD_STOCK, "--reason", "procès-verbal illisible", "--reviewer", "bob").stdout
    assert out.strip() == (f"{OLD_STOCK}: REJECTED DOCS_REFUSED (documents refusés lors de la vérification): "
                           "procès-verbal illisible (by bob)")
    assert docs.status(OLD_STOCK) == ("REJECTED", "DOCS_REFUSED")
    (rejected,) = docs.events("Rejected")
    assert (rejected["actor"], rejected["reason"], rejected["note"]) == ("bob", "DOCS_REFUSED",
                                                                        "procès-verbal illisible")


def test_the_last_day_is_included_and_the_next_day_the_device_is_rejected(docs: Docs) -> None:
    on_time, late = ABROAD[1], ABROAD[2]
    docs.register(on_time)
    docs.register(late)  # both requested on 01/12/2026: deadline 15/12/2026
    last_second, next_day = "2026-12-15T23:59:59+01:00", "2026-12-16T00:00:00+01:00"

    out = docs.cli_at(last_second, "documents", "upload", on_time, str(docs.file("a.pdf", PDF)), "--kind", "invoice")
    assert "status DOCS_UPLOADED" in out.stdout
    assert "0 device(s) rejected" in docs.cli_at(last_second, "worker", "deadlines", "--once").stdout
    assert docs.status(late) == ("DOCS_REQUIRED", "SOLD_IN_OTHER_COUNTRY")

    late_file = docs.file("b.pdf", PDF + b"% another invoice\n")
    refused = docs.cli_at(next_day, "documents", "upload", late, str(late_file), "--kind", "invoice", check=False)
    assert refused.returncode == 2
    assert "upload window closed at the end of 15/12/2026" in refused.stderr
    assert len(docs.stored_files()) == 1, "only the on-time invoice is stored"

    out = docs.cli_at(next_day, "worker", "deadlines", "--once").stdout
    assert "1 device(s) rejected (DOCS_NOT_PROVIDED)" in out and late in out
    assert docs.status(late) == ("REJECTED", "DOCS_NOT_PROVIDED")
    assert docs.status(on_time)[0] == "DOCS_UPLOADED"
    assert "0 device(s) rejected" in docs.cli_at(next_day, "worker", "deadlines", "--once").stdout
    (rejected,) = docs.events("Rejected")
    assert (rejected["actor"], rejected["channel"], rejected["reason"]) == (
        "deadlines-worker", "system", "DOCS_NOT_PROVIDED")


def test_two_deadline_workers_at_once_reject_each_device_exactly_once(docs: Docs) -> None:
    world = docs.world
    serials = ABROAD[10:310]
    feed = world.tmp / "feed.jsonl"
    feed.write_text("".join(json.dumps(world.record(s, COMPANY)) + "\n" for s in serials))
    assert "registered:     300" in world.cli("ingest", "feed", str(feed)).stdout
    world.cli("project")

    after = "2026-12-16T09:00:00+01:00"
    command = [sys.executable, "-m", "cashback.cli", "--now", after, "--log-level", "INFO", "worker", "deadlines",
               "--once"]
    procs = [subprocess.Popen(command, env=world.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    counts = [int(re.search(r"(\d+) device\(s\) rejected", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert sum(counts) == 300, (counts, outputs)

    per_device = world.sql("SELECT originator_id, COUNT(*) FROM cashback_events WHERE topic LIKE %s"
                           " GROUP BY originator_id", ("%DeviceRegistration.Rejected",))
    assert len(per_device) == 300 and {n for _, n in per_device} == {1}
    world.cli("project")
    assert world.sql("SELECT status, reason, COUNT(*) FROM overview WHERE serial LIKE '5%%' GROUP BY status, reason"
                     ) == [("REJECTED", "DOCS_NOT_PROVIDED", 300)]


def test_a_crash_between_sending_and_marking_resends_with_the_same_message_id(docs: Docs) -> None:
    world, inbox = docs.world, docs.inbox
    serial = ABROAD[3]
    docs.register(serial)
    worker = world.start_worker("worker", "notifications", name="notifications")

    def kill_the_sender(message: EmailMessage) -> None:
        inbox.on_message = None
        os.kill(worker.pid, signal.SIGKILL)  # the server has the message; the worker never hears "250"

    inbox.on_message = kill_the_sender
    world.wait_for(lambda: worker.poll() is not None, what="the worker to be killed")
    assert worker.returncode == -signal.SIGKILL
    assert len(inbox.messages) == 1
    assert [(s, status) for s, status, *_ in docs.outbox()] == [(serial, "pending")]

    world.start_worker("worker", "notifications", name="notifications-restarted")
    world.wait_for(lambda: [r[1] for r in docs.outbox()] == ["sent"], what="the resend")
    first, second = inbox.message_ids()
    assert first == second == request_message_id(registration_id(CAMPAIGN, serial), 2)


def test_a_mail_server_down_keeps_the_e_mail_and_it_goes_out_when_the_server_is_back(docs: Docs) -> None:
    world = docs.world
    docs.stop_smtp()
    serial = ABROAD[4]
    docs.register(serial)

    once = world.cli("notifications", "send-pending", check=False)
    assert once.returncode == 3 and "failed: 1" in once.stdout and "Connection refused" in once.stderr

    world.start_worker("worker", "notifications", name="notifications")
    world.wait_for(lambda: docs.outbox()[0][2] >= 3, what="retries while the server is down")
    (row,) = docs.outbox()
    assert row[1] == "pending" and "Connection refused" in row[4]
    assert docs.inbox.messages == []

    docs.start_smtp()
    world.wait_for(lambda: docs.outbox()[0][1] == "sent", what="the e-mail to go out")
    assert len(docs.inbox.messages) == 1
    assert docs.outbox()[0][4] is None
    assert '"event": "mail_failed"' in world.logs() and '"event": "mail_sent"' in world.logs()


def test_two_notification_workers_at_once_send_each_e_mail_once(docs: Docs) -> None:
    world = docs.world
    serials = ABROAD[320:350]
    feed = world.tmp / "feed.jsonl"
    feed.write_text("".join(json.dumps(world.record(s, COMPANY)) + "\n" for s in serials))
    world.cli("ingest", "feed", str(feed))
    command = [sys.executable, "-m", "cashback.cli", "--now", "2026-12-01T10:00:00+01:00", "worker", "notifications",
               "--once"]
    procs = [subprocess.Popen(command, env=world.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ids = docs.inbox.message_ids()
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {r[1] for r in docs.outbox()} == {"sent"} and len(docs.outbox()) == 30


def test_a_reminder_goes_out_three_days_before_the_deadline_once(docs: Docs) -> None:
    world = docs.world
    serial = ABROAD[5]
    docs.register(serial)  # deadline 15/12/2026
    world.cli("notifications", "send-pending")
    for now in ("2026-12-12T08:00:00+01:00", "2026-12-13T08:00:00+01:00"):
        docs.cli_at(now, "worker", "deadlines", "--once")
        docs.cli_at(now, "notifications", "send-pending")
    request, reminder = (m for _, m in docs.inbox.messages)
    assert reminder["Subject"].startswith("Rappel : documents à fournir avant le 15/12/2026")
    assert reminder["Message-ID"] != request["Message-ID"]
    assert serial in text_of(reminder)

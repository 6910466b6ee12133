"""Documents (issue #4): `cashback documents upload`, `cashback review list|approve|reject`,
`cashback notifications send-pending|list`, `cashback worker notifications|deadlines`.

See docs/documents.md.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from domain.terms import DocumentKind

OUTBOX_STATUSES = ("pending", "sent", "skipped")  # the states cashback.outbox gives an e-mail


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "staff"


def _mail_parts(eng: Any) -> tuple[Any, Any]:
    """The mailer factory and the mail settings, from the settings read at the entry point."""
    from adapters.mail import SmtpConfig, SmtpMailer
    from workers.notifications import MailSettings

    config = SmtpConfig.from_settings(eng.settings)
    return (lambda: SmtpMailer(config)), MailSettings.from_settings(eng.settings)


def _notifications_pass(eng: Any) -> None:
    from workers.notifications import NotificationsWorker

    factory, mail = _mail_parts(eng)
    worker = NotificationsWorker(eng.app, eng.read_db, factory, mail)
    read, report = worker.run_once()
    counts = worker.outbox.counts()
    typer.echo(f"events read: {read}; e-mails sent: {report.sent}, failed: {report.failed}, "
               f"skipped: {report.skipped}; outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for error in report.errors:
        typer.echo(f"  failed {error}", err=True)
    if report.failed:
        raise typer.Exit(3)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    documents_app = typer.Typer(help="Documents asked of installers (invoice, commissioning report).",
                                no_args_is_help=True)
    review_app = typer.Typer(help="Staff review of uploaded documents.", no_args_is_help=True)
    notifications_app = typer.Typer(help="Document-request e-mails: the outbox.", no_args_is_help=True)
    app.add_typer(documents_app, name="documents")
    app.add_typer(review_app, name="review")
    app.add_typer(notifications_app, name="notifications")
    worker_app = groups["worker"]

    # --- documents upload ---------------------------------------------------------------------

    @documents_app.command("upload")
    def upload(
        serial: Annotated[str, typer.Argument(help="Serial number of the device.")],
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                             help="PDF, JPEG or PNG (recognised by content, not by name).")],
        kind: Annotated[DocumentKind, typer.Option(help="What the file is.", case_sensitive=False)],
        company: Annotated[Optional[str], typer.Option(help="Only for this company's device (customer number).")]
        = None,
        actor: Annotated[str, typer.Option(help="Who uploads (recorded on the event).")] = "cli",
    ) -> None:
        """Upload a document for a device waiting for documents (up to its deadline, included)."""
        from adapters.documents import DocumentRejected
        from cashback.cli_support import engine, fail
        from cashback.documents import UnknownDevice, UploadNotAllowed, document_name, document_store, upload_document
        from domain.provenance import Channel

        with engine() as eng:
            store = document_store(eng.settings)
            try:
                store.check_size(file.stat().st_size)
                content = file.read_bytes()
                result = upload_document(eng.app, store, serial, kind, content, actor=actor, channel=Channel.MANUAL,
                                         customer_no=company, filename=file.name, source=f"cli:{file.name}")
            except DocumentRejected as error:
                fail(f"{file}: {error.reason}; nothing stored")
            except (UnknownDevice, UploadNotAllowed) as error:
                fail(f"{error}; nothing stored")
            eng.projector().catch_up()
            language = eng.settings.language
        name = document_name(result.kind, language)
        missing = ", ".join(document_name(d, language) for d in result.missing)
        still = f"; still missing: {missing}" if missing else ""
        if result.recorded:
            typer.echo(f"{result.serial}: {name} received ({result.media_type}, {result.size} bytes, "
                       f"sha256 {result.sha256[:16]}…) — status {result.status}{still}")
        else:
            typer.echo(f"{result.serial}: this {name} was already received (sha256 {result.sha256[:16]}…); "
                       f"nothing changed — status {result.status}{still}")
        typer.echo(f"stored as {result.path}")

    # --- review -------------------------------------------------------------------------------

    @review_app.command("list")
    def review_list(output: Annotated[str, typer.Option("--format", help="table or json")] = "table") -> None:
        """Devices whose documents wait for review (DOCS_UPLOADED), with what they received."""
        from cashback.cli_support import engine, money
        from cashback.documents import document_name, document_store, review_queue

        with engine() as eng:
            eng.projector().catch_up()
            items = review_queue(eng.app, eng.read_db, document_store(eng.settings))
            language = eng.settings.language
        if output == "json":
            typer.echo(json.dumps([{
                "company": i.customer_no, "company_name": i.company, "serial": i.serial, "device_type": i.device_type,
                "amount_cents": i.amount_cents, "deadline": i.deadline.isoformat() if i.deadline else None,
                "reasons": i.reasons, "needed": i.needed, "received": i.received, "missing": i.missing,
            } for i in items], ensure_ascii=False, indent=2))
            return
        typer.echo(f"{len(items)} device(s) waiting for review")
        for i in items:
            needed = ", ".join(document_name(d, language) for d in i.needed)
            typer.echo(f"{i.customer_no:<10} {i.company[:28]:<28} {i.serial:<14} {i.device_type:<15} "
                       f"{money(i.amount_cents):>10}  needed: {needed}  reasons: {','.join(i.reasons)}")
            for doc in i.received:
                typer.echo(f"    received {document_name(doc['kind'], language)}: {doc['size']} bytes, "
                           f"{doc.get('media_type') or '?'}, {doc.get('path') or 'sha256 ' + doc['sha256']}")
            if i.missing:  # only a device that reached review before every kind was required
                typer.echo(f"    missing {', '.join(document_name(d, language) for d in i.missing)}")

    def _review(serial: str, decision: str, reviewer: str, note: str = "") -> None:
        from cashback.cli_support import engine, fail, money
        from cashback.documents import DocumentsMissing, UnknownDevice, document_name, review
        from domain.errors import TransitionNotAllowed
        from domain.statuses import reason_text

        with engine() as eng:
            try:
                registration = review(eng.app, serial, decision, reviewer, note)
            except UnknownDevice as error:
                fail(str(error))
            except TransitionNotAllowed as error:
                hint = {"DOCS_REQUIRED": "no documents received yet"}.get(error.status, "")
                if isinstance(error, DocumentsMissing) and error.missing:
                    hint = "still missing: " + ", ".join(document_name(d, eng.settings.language)
                                                          for d in error.missing)
                fail(f"device {error.serial}: cannot {'approve' if decision == 'approve' else 'reject'} — status "
                     f"{error.status}{' (' + hint + ')' if hint else ''}; only devices in DOCS_UPLOADED are reviewed")
            eng.projector().catch_up()
            language = eng.settings.language
        if decision == "approve":
            typer.echo(f"{registration.serial}: {registration.status} {money(registration.amount_cents)} "
                       f"(approved by {reviewer})")
        else:
            typer.echo(f"{registration.serial}: {registration.status} {registration.reason} "
                       f"({reason_text(registration.reason, language)}): {note} (by {reviewer})")

    @review_app.command("approve")
    def approve(
        serial: Annotated[str, typer.Argument(help="Serial number of the device.")],
        reviewer: Annotated[str, typer.Option(help="Who decides (recorded on the event).")] = _default_reviewer(),
    ) -> None:
        """Approve the documents: the device becomes PAYMENT_PENDING with its amount."""
        _review(serial, "approve", reviewer)

    @review_app.command("reject")
    def reject(
        serial: Annotated[str, typer.Argument(help="Serial number of the device.")],
        reason: Annotated[str, typer.Option(help="Why the documents are refused (kept with the rejection).")],
        reviewer: Annotated[str, typer.Option(help="Who decides (recorded on the event).")] = _default_reviewer(),
    ) -> None:
        """Refuse the documents: the device becomes REJECTED (DOCS_REFUSED) with the reason as note."""
        from cashback.cli_support import fail

        if not reason.strip():
            fail("--reason must say why the documents are refused")
        _review(serial, "reject", reviewer, reason.strip())

    # --- notifications ---------------------------------------------------------------------------

    @notifications_app.command("send-pending")
    def send_pending() -> None:
        """One pass: queue the e-mails of new document requests, send every pending e-mail once."""
        from cashback.cli_support import engine

        with engine() as eng:
            _notifications_pass(eng)

    @notifications_app.command("list")
    def notifications_list(
        status: Annotated[Optional[str], typer.Option(help=", ".join(OUTBOX_STATUSES))] = None,
        serial: Annotated[Optional[str], typer.Option(help="Only the e-mails of this device.")] = None,
        body: Annotated[bool, typer.Option("--body", help="Print the text of each e-mail too.")] = False,
        limit: Annotated[int, typer.Option(min=0, help="Rows to print.")] = 50,
    ) -> None:
        """The outbox: one row per e-mail, with its status and attempts."""
        from cashback.cli_support import engine, fail
        from cashback.outbox import Outbox
        from domain.normalise import InvalidSerial, normalise_serial

        if status and status not in OUTBOX_STATUSES:
            fail(f"--status {status!r} is not an outbox status; use one of {', '.join(OUTBOX_STATUSES)}")
        if serial:
            with contextlib.suppress(InvalidSerial):
                serial = normalise_serial(serial)
        with engine() as eng:
            outbox = Outbox(eng.read_db)
            rows = outbox.rows(status=status, serial=serial, limit=limit)
            counts = outbox.counts()
        typer.echo("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))
        for r in rows:
            typer.echo(f"{r.status:<8} {r.attempts:>2} tries  {r.serial:<14} {r.recipient:<30} {r.message_id}  "
                       f"{r.subject}" + (f"  [last error: {r.last_error}]" if r.last_error else "")
                       + (f"  sent {r.sent_at}" if r.sent_at else ""))
            if body:
                typer.echo("    " + r.body.replace("\n", "\n    "))

    # --- workers ----------------------------------------------------------------------------------

    @worker_app.command("notifications")
    def worker_notifications(
        once: Annotated[bool, typer.Option("--once", help="One pass, then exit (exit code 3 if a send failed).")]
        = False,
    ) -> None:
        """Follow the event log into the mail outbox and send it over SMTP, until SIGTERM/SIGINT."""
        from cashback.cli_support import engine
        from workers.notifications import NotificationsWorker
        from workers.signals import stop_on_signals

        with engine() as eng:
            if once:
                _notifications_pass(eng)
                return
            factory, mail = _mail_parts(eng)
            NotificationsWorker(eng.app, eng.read_db, factory, mail).follow(
                stop_on_signals(), idle_sleep=eng.settings.worker_interval_seconds)

    @worker_app.command("deadlines")
    def worker_deadlines(
        once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
        interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 60.0,
    ) -> None:
        """Reject (DOCS_NOT_PROVIDED) devices whose document window has passed; queue reminder e-mails."""
        from cashback.cli_support import engine
        from workers.deadlines import DeadlinesWorker
        from workers.notifications import MailSettings
        from workers.signals import stop_on_signals

        with engine() as eng:
            worker = DeadlinesWorker(eng.app, eng.read_db, projector=eng.projector(),
                                     reminder_days=eng.settings.reminder_days,
                                     mail=MailSettings.from_settings(eng.settings))
            if not once:
                worker.follow(stop_on_signals(), interval=interval)
                return
            report = worker.run_once()
            eng.projector().catch_up()
        typer.echo(f"today {report.today:%d/%m/%Y}: {len(report.expired)} device(s) rejected (DOCS_NOT_PROVIDED) "
                   f"of {report.candidates} past their deadline; reminders queued: {report.reminders}")
        for serial in report.expired[:50]:
            typer.echo(f"  {serial}")
        if len(report.expired) > 50:
            typer.echo(f"  … and {len(report.expired) - 50} more")

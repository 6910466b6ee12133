"""Documents on the application: upload (CLI and portal), the window, staff review.

The document window: a device asked for documents on local day D (the
campaign's time zone, Europe/Paris) may receive them up to and including
D + ``document_window_days``; the window closes at midnight local time at the
end of that day, whatever daylight-saving change falls inside the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from eventsourcing.persistence import IntegrityError

from adapters.documents import DocumentStore, StoredDocument, check_upload_name
from domain.errors import DomainError, TransitionNotAllowed
from domain.provenance import Channel, Provenance
from domain.registration import DeviceRegistration
from domain.statuses import Status, reason_text
from domain.terms import DocumentKind

log = structlog.get_logger(__name__)

UPLOADABLE = (Status.DOCS_REQUIRED, Status.DOCS_UPLOADED)

DOCUMENT_NAMES: dict[str, dict[str, str]] = {
    "fr": {
        DocumentKind.INVOICE: "facture",
        DocumentKind.COMMISSIONING_REPORT: "procès-verbal de mise en service",
    },
    "en": {
        DocumentKind.INVOICE: "invoice",
        DocumentKind.COMMISSIONING_REPORT: "commissioning report",
    },
}


def document_name(kind: str, language: str = "fr") -> str:
    """Human name of a document kind; the code itself, readable, for an unknown kind."""
    return DOCUMENT_NAMES.get(language, DOCUMENT_NAMES["fr"]).get(kind, kind.replace("_", " "))


def window_closes_at(deadline: date, tz: str) -> datetime:
    """The instant the window closes: midnight local time at the end of the deadline day."""
    return datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))


def documents_root(settings: Any) -> Path:
    """Where uploads are stored: CASHBACK_DOCUMENTS_DIR, default <data_dir>/documents."""
    return Path(settings.documents_dir) if settings.documents_dir else Path(settings.data_dir) / "documents"


def document_store(settings: Any) -> DocumentStore:
    return DocumentStore(documents_root(settings), settings.max_upload_bytes)


class UnknownDevice(DomainError):
    """No such device in the campaign (or not one of the given company's)."""

    def __init__(self, serial: str, campaign_id: str, customer_no: str | None = None) -> None:
        whose = f" for company {customer_no}" if customer_no else ""
        super().__init__(f"device {serial} is not registered in campaign {campaign_id}{whose}")
        self.serial = serial


class UploadNotAllowed(TransitionNotAllowed):
    """Documents cannot be uploaded for this device now; ``why`` says why in plain words."""

    def __init__(self, serial: str, device_type: str, status: str, why: str) -> None:
        super().__init__(serial, status, "upload documents")
        self.why = why
        self.args = (f"device {device_type} {serial}: documents cannot be uploaded — {why}",)


@dataclass(frozen=True, slots=True)
class UploadResult:
    serial: str
    device_type: str
    kind: str
    sha256: str
    size: int
    media_type: str
    path: Path
    #: False when this very file was already recorded for this device and kind.
    recorded: bool
    status: str
    deadline: date | None
    #: Needed kinds still not received: the device stays DOCS_REQUIRED until this is empty.
    missing: list[str] = field(default_factory=list)


class DocumentsMissing(TransitionNotAllowed):
    """Staff review a device only once every needed document is in; ``missing`` says what is not."""

    def __init__(self, serial: str, status: str, action: str, missing: list[str]) -> None:
        super().__init__(serial, status, action)
        self.missing = list(missing)
        if self.missing:
            self.args = (f"{self.args[0]} (documents still missing: {', '.join(self.missing)})",)


def _refusal(registration: DeviceRegistration, today: date, language: str = "en") -> str | None:
    """Why an upload is refused now, or None when it is allowed (the aggregate re-checks)."""
    status = registration.status
    if status not in UPLOADABLE:
        detail: str | None = {
            str(Status.PAYMENT_PENDING): "no documents are needed (status PAYMENT_PENDING)",
            str(Status.PAID): "the cashback is already paid (status PAID)",
        }.get(str(status))
        if detail:
            return detail
        if status == Status.REJECTED:
            why = reason_text(registration.reason, language) or registration.reason or ""
            return f"the registration is rejected ({registration.reason}: {why})" if why else "it is rejected"
        return f"its status is {status}"
    if registration.deadline is not None and today > registration.deadline:
        return f"the upload window closed at the end of {registration.deadline:%d/%m/%Y}"
    return None


def upload_document(
    app: Any,
    store: DocumentStore,
    serial: str,
    kind: DocumentKind | str,
    content: bytes,
    actor: str,
    channel: Channel | str = Channel.MANUAL,
    *,
    customer_no: str | None = None,
    filename: str | None = None,
    source: str | None = None,
    max_attempts: int = 3,
) -> UploadResult:
    """Validate, check the device, store the file, record DocumentUploaded.

    Raises ``DocumentRejected`` (bad content), ``UnknownDevice`` (no such device,
    or not the given company's), ``UploadNotAllowed`` (wrong status or window
    closed). Nothing is stored when one of them is raised. ``filename``, the name the
    sender gave, must be a plain name (``DocumentRejected`` "bad_name") and is only logged: the
    stored path comes from the content.
    """
    kind = DocumentKind(kind)
    if filename is not None:
        check_upload_name(filename)
    info = store.validate(content)  # DocumentRejected before anything else
    serial = canonical_serial(app, serial)
    bound = log.bind(serial=serial, kind=str(kind), sha256=info.sha256, filename=filename, actor=actor)

    registration = _registration_for(app, serial, customer_no)
    why = _refusal(registration, app.today())
    if why:
        bound.info("upload_refused", company=registration.customer_no, reason=why)
        raise UploadNotAllowed(serial, registration.device_type, registration.status, why)

    stored = store.store(content)
    by = Provenance(actor=actor, channel=Channel(channel), source=source or f"document:{info.sha256}")
    try:
        recorded = _record(app, serial, kind, stored, by, max_attempts)
    except TransitionNotAllowed as error:  # the state changed between the check and the save
        store.remove(stored)
        registration = _registration_for(app, serial, customer_no)
        why = _refusal(registration, app.today()) or str(error)
        bound.info("upload_refused", company=registration.customer_no, reason=why)
        raise UploadNotAllowed(serial, registration.device_type, registration.status, why) from error
    except BaseException:
        store.remove(stored)
        raise
    registration = _registration_for(app, serial, customer_no)
    bound.info("document_uploaded" if recorded else "document_already_received",
               company=registration.customer_no, size=stored.size, media_type=stored.media_type)
    return UploadResult(
        serial=serial, device_type=registration.device_type, kind=str(kind), sha256=stored.sha256,
        size=stored.size, media_type=stored.media_type, path=stored.path, recorded=recorded,
        status=registration.status, deadline=registration.deadline, missing=registration.documents_missing,
    )


def canonical_serial(app: Any, raw: str) -> str:
    """The normalised serial; UnknownDevice when the text cannot be a serial at all."""
    from domain.normalise import InvalidSerial, normalise_serial

    try:
        return normalise_serial(raw)
    except InvalidSerial:
        raise UnknownDevice(str(raw).strip(), app.terms.id) from None


def _registration_for(app: Any, serial: str, customer_no: str | None) -> DeviceRegistration:
    registration: DeviceRegistration | None = app.get_registration(serial)
    if registration is None:
        raise UnknownDevice(serial, app.terms.id, customer_no)
    if customer_no is not None:
        from domain.normalise import normalise_customer_no

        if registration.customer_no != normalise_customer_no(customer_no):
            raise UnknownDevice(serial, app.terms.id, customer_no)
    return registration


def _record(app: Any, serial: str, kind: DocumentKind, stored: StoredDocument, by: Provenance,
            max_attempts: int) -> bool:
    for attempt in range(1, max_attempts + 1):
        try:
            return bool(app.record_upload(serial, kind, stored.sha256, stored.size, by))
        except IntegrityError:  # another writer changed the device meanwhile: reload and decide again
            log.warning("upload_conflict_retry", serial=serial, attempt=attempt)
            if attempt == max_attempts:
                raise
    raise AssertionError("unreachable")


# --- staff review -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewItem:
    customer_no: str
    company: str
    serial: str
    device_type: str
    amount_cents: int
    deadline: date | None
    reasons: list[str]
    needed: list[str]
    received: list[dict[str, Any]] = field(default_factory=list)
    uploaded_at: str = ""
    #: Needed kinds not received; empty for every device that reached review under the current rule.
    missing: list[str] = field(default_factory=list)


def review_queue(app: Any, read_db: Any, store: DocumentStore | None = None) -> list[ReviewItem]:
    """Devices in DOCS_UPLOADED (from the projection), with what each received (from its events)."""
    from projections import queries

    enrolments = app.enrolments()
    items = []
    for customer_no, serial, _device_type, updated_at in queries.awaiting_review(read_db, app.terms.id):
        registration: DeviceRegistration | None = app.get_registration(serial)
        if registration is None or registration.status != Status.DOCS_UPLOADED:
            continue  # the projection lags behind: the event store decides
        received = []
        for upload in registration.uploads:
            found = store.find(upload["sha256"]) if store is not None else None
            received.append({**upload, "path": str(found.path) if found else None,
                             "media_type": found.media_type if found else None})
        enrolment = enrolments.get(customer_no)
        items.append(ReviewItem(
            customer_no=customer_no, company=enrolment.name if enrolment else "", serial=registration.serial,
            device_type=registration.device_type, amount_cents=registration.amount_cents,
            deadline=registration.deadline, reasons=list(registration.doc_reasons),
            needed=list(registration.documents_needed), received=received, uploaded_at=updated_at,
            missing=registration.documents_missing,
        ))
    return items


def review(
    app: Any, serial: str, decision: str, reviewer: str, note: str = "",
    on_conflict: Callable[[int], None] | None = None, max_attempts: int = 3,
) -> DeviceRegistration:
    """Approve (→ PAYMENT_PENDING) or reject (→ REJECTED, DOCS_REFUSED, with the note); the reviewer is the actor."""
    if decision not in ("approve", "reject"):
        raise ValueError(f"decision must be approve or reject, not {decision!r}")
    serial = canonical_serial(app, serial)
    current: DeviceRegistration | None = app.get_registration(serial)
    if current is None:
        raise UnknownDevice(serial, app.terms.id)
    if current.status == Status.DOCS_REQUIRED and (decision == "approve" or not current.documents_received):
        # Approval needs every document; a document already received may be refused (illegible…).
        raise DocumentsMissing(serial, current.status, f"{decision} documents", current.documents_missing)
    if current.status not in (Status.DOCS_REQUIRED, Status.DOCS_UPLOADED):  # staff review uploads only
        raise TransitionNotAllowed(serial, current.status, f"{decision} documents")
    by = Provenance(actor=reviewer, channel=Channel.STAFF, source=f"review:{decision}")
    for attempt in range(1, max_attempts + 1):
        try:
            if decision == "approve":
                registration: DeviceRegistration = app.approve(serial, by)
            else:
                registration = app.reject(serial, note, by)
            log.info("documents_reviewed", serial=serial, company=registration.customer_no, decision=decision,
                     reviewer=reviewer, status=registration.status)
            return registration
        except IntegrityError:
            if on_conflict:
                on_conflict(attempt)
            if attempt == max_attempts:
                raise
    raise AssertionError("unreachable")

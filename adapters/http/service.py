"""What the portal does, for the API and the web page alike.

Writes go through the application (``cashback``); reads come from the
projections, caught up first (``ReadSide.fresh``). The company is always the
caller's: an installer token carries it; other roles name it explicitly and
only where they may read.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog

from adapters.excel import WorkbookError, read_workbook
from adapters.http.errors import PortalError
from adapters.http.readside import ReadSide
from adapters.http.tokens import Principal, Role, TokenStore
from cashback.bootstrap import Engine
from cashback.excel_intake import WorkbookResult, ingest_workbook
from cashback.intake import register_one
from cashback.requests import RequestError, build_request
from domain.errors import DomainError, TransitionNotAllowed
from domain.ids import registration_id
from domain.normalise import (
    InvalidSerial,
    normalise_customer_no,
    normalise_device_type,
    normalise_serial,
    strip_serial_separators,
)
from domain.provenance import Channel
from domain.registration import NEW
from domain.statuses import Status, label, reason_text
from projections import queries

log = structlog.get_logger(__name__)

#: What each history event is called on the portal.
EVENT_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "registered": "Appareil enregistré",
        "documents_requested": "Documents demandés",
        "document_uploaded": "Document reçu",
        "documents_approved": "Documents acceptés",
        "rejected": "Enregistrement refusé",
        "claim_refused": "Enregistrement refusé : appareil déjà enregistré par une autre entreprise",
        "added_to_payout": "Inclus dans un paiement",
        "paid": "Paiement effectué",
        "payout_failed": "Paiement non abouti, il sera repris",
    },
    "en": {
        "registered": "Device registered",
        "documents_requested": "Documents requested",
        "document_uploaded": "Document received",
        "documents_approved": "Documents accepted",
        "rejected": "Registration refused",
        "claim_refused": "Registration refused: device already registered by another company",
        "added_to_payout": "Included in a payout",
        "paid": "Payment made",
        "payout_failed": "Payment not completed, it will be retried",
    },
}

_EVENT_KINDS = {
    "Registered": "registered", "Reregistered": "registered", "DocumentsRequested": "documents_requested",
    "DocumentUploaded": "document_uploaded", "DocumentsApproved": "documents_approved", "Rejected": "rejected",
    "ClaimRefused": "claim_refused", "AddedToPayout": "added_to_payout", "Paid": "paid",
    "PayoutFailed": "payout_failed",
}

_ROW_COLUMNS = (*queries.COLUMNS, "is_owner")

DOCUMENT_KINDS = ("invoice", "commissioning_report")


@dataclass(frozen=True, slots=True)
class Filters:
    status: str | None = None
    device_type: str | None = None
    q: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass
class Page:
    company: str
    rows: list[queries.OverviewRow]
    matching: int
    totals: queries.Totals
    filters: Filters


@dataclass
class DeviceView:
    row: queries.OverviewRow
    is_owner: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    #: For the owner of a DOCS_REQUIRED device: the needed kinds not received yet.
    documents_missing: list[str] = field(default_factory=list)


class Portal:
    def __init__(self, engine: Engine, read: ReadSide, tokens: TokenStore) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.read = read
        self.tokens = tokens
        self.language = engine.settings.language
        self._document_store: Any = None

    @property
    def campaign(self) -> str:
        return self.engine.terms.id

    # --- auth --------------------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal | None:
        return self.tokens.verify(token, db=self.read.db())

    @staticmethod
    def require(principal: Principal, *roles: Role) -> None:
        if principal.role not in roles:
            raise PortalError(403, f"not open to {principal.role} tokens", code="forbidden_for_role")

    def company_of(self, principal: Principal, company: str | None) -> str:
        """The company whose data is read: an installer's own, or the one a staff/finance/auditor names."""
        if principal.is_installer:
            return str(principal.customer_no)
        if not company:
            raise PortalError(400, "name the company: ?company=CUSTOMER_NO", code="company_required")
        customer_no = normalise_customer_no(company)
        if customer_no not in self.engine.app.enrolments():
            raise PortalError(404, f"company {customer_no} is not enrolled in campaign {self.campaign}",
                              code="company_not_enrolled", title="Company not enrolled")
        return customer_no

    # --- labels ------------------------------------------------------------------------------

    def label(self, status: str | None, device_type: str, serial: str) -> str:
        if not status or status == NEW:
            return ""
        return label(status, device_type=device_type, serial=serial, language=self.language)

    def reason_text(self, status: str | None, reason: str | None) -> str:
        if not reason:
            return ""
        if status == Status.DOCS_REQUIRED:  # the campaign's documents rules, as the request e-mail words them
            from cashback.mail_texts import rule_text

            return "; ".join(rule_text(code, self.language, self.engine.terms) for code in reason.split(","))
        return reason_text(reason, self.language)

    def device_dict(self, row: queries.OverviewRow) -> dict[str, Any]:
        return {
            "serial": row.serial, "device_type": row.device_type, "status": row.status,
            "label": row.label(self.language), "amount_cents": int(row.amount_cents),
            "installed_on": row.installed_on, "registered_at": row.registered_at, "updated_at": row.updated_at,
            "deadline": row.deadline, "documents_needed": [d for d in (row.documents or "").split(",") if d],
            "reason": row.reason, "reason_text": self.reason_text(row.status, row.reason),
            "in_payout": row.payout_id is not None, "paid_at": row.paid_at, "channel": row.channel,
        }

    @staticmethod
    def totals_dict(totals: queries.Totals) -> dict[str, Any]:
        counts = {str(s): totals.count_by_status.get(str(s), 0) for s in Status}
        return {"collected_cents": totals.collected_cents, "pending_cents": totals.pending_cents,
                "count": totals.count, "count_by_status": counts}

    # --- writes ------------------------------------------------------------------------------

    def register(self, principal: Principal, *, serial: str, device_type: str, installed_on: str | date,
                 request_id: str) -> dict[str, Any]:
        self.require(principal, Role.INSTALLER)
        try:
            request = build_request(serial=serial, device_type=device_type, installed_on=installed_on,
                                    customer_no=str(principal.customer_no))
        except RequestError as error:
            field_name, _, message = str(error).partition(": ")
            raise PortalError(422, str(error), code="invalid_request",
                              errors=[{"field": field_name, "location": "body", "message": message,
                                       "type": "value_error"}]) from None
        with self.read.write():
            outcome = register_one(self.engine.app, request, actor=f"portal:{principal.customer_no}",
                                   channel=Channel.MANUAL, source=f"portal:{request_id}")
        if outcome.kind in ("not_enrolled", "parked"):
            raise PortalError(403, f"company {principal.customer_no} is not enrolled in campaign {self.campaign}",
                              code="company_not_enrolled")
        status = outcome.status or str(Status.REJECTED)
        log.info("portal_registration", serial=outcome.serial, outcome=outcome.kind, status=status)
        return {
            "serial": outcome.serial, "outcome": outcome.kind, "status": status,
            "label": self.label(status, request.device_type, outcome.serial),
            "reason": outcome.reason, "reason_text": self.reason_text(status, outcome.reason),
            "amount_cents": outcome.amount_cents,
        }

    def workbook(self, principal: Principal, content: bytes, request_id: str) -> WorkbookResult:
        self.require(principal, Role.INSTALLER)
        limit = self.settings.portal_max_upload_bytes
        if len(content) > limit:
            raise PortalError(413, f"file too large: {len(content)} bytes, the limit is {limit} bytes",
                              code="too_large", page_detail=too_large_text(limit, self.language))
        try:
            if self.settings.portal_max_workbook_rows < 20000:  # stricter than the reader's own limit
                read_workbook(content, max_rows=self.settings.portal_max_workbook_rows, max_bytes=limit,
                              language=self.language)
            with self.read.write():
                result = ingest_workbook(self.engine.app, content, str(principal.customer_no),
                                         actor=f"portal:{principal.customer_no}", language=self.language)
        except WorkbookError as error:
            raise workbook_problem(error, self.language) from None
        except PermissionError as error:
            raise PortalError(403, str(error), code="company_not_enrolled") from None
        log.info("portal_workbook", upload_id=result.upload_id, rows=len(result.verdicts), request_id=request_id)
        return result

    def approve(self, principal: Principal, serial: str, request_id: str) -> dict[str, Any]:
        return self._review(principal, serial, "approve", "", request_id)

    def reject(self, principal: Principal, serial: str, note: str, request_id: str) -> dict[str, Any]:
        """Refuse the documents; the note says why (required, like the CLI's ``--reason``)."""
        self.require(principal, Role.STAFF)
        if not note.strip():
            raise PortalError(422, "note: say why the documents are refused", code="invalid_request",
                              errors=[{"field": "note", "location": "body", "type": "missing",
                                       "message": "say why the documents are refused"}])
        return self._review(principal, serial, "reject", note.strip(), request_id)

    def _review(self, principal: Principal, serial: str, decision: str, note: str, request_id: str) -> dict[str, Any]:
        self.require(principal, Role.STAFF)
        from cashback.documents import UnknownDevice, review

        normalised = self._serial_or_404(serial)
        try:
            with self.read.write():
                registration = review(self.engine.app, normalised, decision, reviewer=f"staff:{principal.token_id}",
                                      note=note)
        except TransitionNotAllowed as error:
            raise PortalError(409, str(error), code="not_awaiting_review") from None
        except (UnknownDevice, DomainError) as error:
            raise PortalError(404, str(error), code="unknown_device") from None
        log.info("portal_review", serial=normalised, decision=decision, request_id=request_id)
        return self._review_result(registration)

    def _review_result(self, registration: Any) -> dict[str, Any]:
        return {"serial": registration.serial, "status": registration.status,
                "label": self.label(registration.status, registration.device_type, registration.serial)}

    def upload_document(self, principal: Principal, serial: str, kind: str, content: bytes,
                        request_id: str, filename: str | None = None) -> dict[str, Any]:
        self.require(principal, Role.INSTALLER)
        view = self.device(principal, serial, history=False)  # 404 for another company's device
        if kind not in DOCUMENT_KINDS:
            raise PortalError(422, f"kind: must be one of {', '.join(DOCUMENT_KINDS)}", code="invalid_request",
                              errors=[{"field": "kind", "location": "body", "message": "unknown document kind",
                                       "type": "enum"}])
        if not view.is_owner:
            raise PortalError(409, f"device {view.row.serial} does not await documents from this company",
                              code="not_awaiting_documents")
        from adapters.documents import DocumentRejected
        from cashback.documents import UnknownDevice, UploadNotAllowed, document_store, upload_document

        if self._document_store is None:
            self._document_store = document_store(self.settings)
        try:
            with self.read.write():
                result = upload_document(self.engine.app, self._document_store, view.row.serial, kind, content,
                                         actor=f"portal:{principal.customer_no}", channel=Channel.MANUAL,
                                         customer_no=str(principal.customer_no), filename=filename,
                                         source=f"portal:{request_id}")
        except DocumentRejected as error:
            status = 413 if error.code == "too_large" else 415 if error.code == "unsupported_type" else 422
            raise PortalError(status, str(error), code=f"document_{error.code}", title="Document rejected") from None
        except UnknownDevice:
            raise PortalError(404, f"no device {view.row.serial} for this company", code="unknown_device") from None
        except UploadNotAllowed as error:
            raise PortalError(409, str(error), code="not_awaiting_documents") from None
        return {"serial": result.serial, "kind": result.kind, "sha256": result.sha256, "size": result.size,
                "media_type": result.media_type, "recorded": result.recorded, "status": result.status,
                "label": self.label(result.status, result.device_type, result.serial),
                "documents_missing": list(result.missing)}

    # --- reads -------------------------------------------------------------------------------

    def page(self, company: str, filters: Filters) -> Page:
        self.read.fresh()
        db = self.read.db()
        search = serial_search(filters.q)
        device_type = normalise_device_type(filters.device_type) if filters.device_type else None
        rows = queries.overview(db, self.campaign, company, status=filters.status, device_type=device_type,
                                serial_search=search, limit=filters.limit, offset=filters.offset)
        matching = queries.count(db, self.campaign, company, status=filters.status, device_type=device_type,
                                 serial_search=search)
        totals = queries.totals(db, self.campaign, company)
        return Page(company, rows, matching, totals, filters)

    def device(self, principal: Principal, serial: str, company: str | None = None,
               history: bool = True) -> DeviceView:
        """A device as the caller may see it; 404 when it is not the caller's (existence never leaks)."""
        normalised = self._serial_or_404(serial)
        self.read.fresh()
        if principal.is_installer:
            owner = str(principal.customer_no)
        else:
            owner = normalise_customer_no(company) if company else (self._owner_company(normalised) or "")
        found = self._row(normalised, owner) if owner else None
        if found is None:
            raise PortalError(404, f"no device {normalised} for this company", code="unknown_device")
        row, is_owner = found
        view = DeviceView(row, is_owner)
        if is_owner and row.status == Status.DOCS_REQUIRED:
            registration = self.engine.app.get_registration(normalised)
            if registration is not None and registration.status == Status.DOCS_REQUIRED:
                view.documents_missing = registration.documents_missing
        if history:
            view.history = self._history(normalised, owner, is_owner)
        return view

    def review_queue(self, principal: Principal) -> list[dict[str, Any]]:
        self.require(principal, Role.STAFF)
        from cashback.documents import review_queue

        self.read.fresh()
        items = review_queue(self.engine.app, self.read.db())
        return [{"company": i.customer_no, "company_name": i.company, "serial": i.serial,
                 "device_type": i.device_type, "amount_cents": i.amount_cents,
                 "deadline": i.deadline.isoformat() if i.deadline else None, "reasons": i.reasons,
                 "documents_needed": i.needed, "documents_missing": i.missing, "uploaded_at": i.uploaded_at,
                 "received": [{"kind": r.get("kind"), "sha256": r.get("sha256"), "size": r.get("size")}
                              for r in i.received]} for i in items]

    def ready(self) -> None:
        self.read.db().query("SELECT 1")
        self.engine.app.recorder.max_notification_id()

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _serial_or_404(serial: str) -> str:
        try:
            return normalise_serial(serial)
        except InvalidSerial:
            raise PortalError(404, "no such device", code="unknown_device") from None

    def _row(self, serial: str, company: str) -> tuple[queries.OverviewRow, bool] | None:
        rows = self.read.db().query(
            f"SELECT {', '.join(_ROW_COLUMNS)} FROM overview WHERE campaign_id = %s AND customer_no = %s"
            " AND serial = %s",
            (self.campaign, company, serial),
        )
        if not rows:
            return None
        values = rows[0]
        return queries.OverviewRow(*values[:-1]), bool(values[-1])

    def _owner_company(self, serial: str) -> str | None:
        rows = self.read.db().query(
            "SELECT customer_no FROM overview WHERE campaign_id = %s AND serial = %s AND is_owner = 1",
            (self.campaign, serial),
        )
        return str(rows[0][0]) if rows else None

    def _history(self, serial: str, company: str, is_owner: bool) -> list[dict[str, Any]]:
        """The device's events as this company may see them: those of its own registration (a
        re-registration by another company starts that company's part), its refused claims; no actor ids."""
        events: list[Any] = list(self.engine.app.repository.event_store.get(registration_id(self.campaign, serial)))
        texts = EVENT_TEXTS.get(self.language, EVENT_TEXTS["fr"])
        out: list[dict[str, Any]] = []
        status: str | None = None
        device_type = ""
        mine = False
        for event in events:
            kind = _EVENT_KINDS.get(type(event).__name__)
            if kind is None:
                continue
            entry_status: str | None
            reason: str | None = None
            document_kind: str | None = None
            if kind == "registered":  # Registered, or Reregistered: the request decided again
                device_type, mine = event.device_type, event.customer_no == company
                status = str(Status.PAYMENT_PENDING) if event.outcome == Status.PAYMENT_PENDING else None
            elif kind == "claim_refused":
                if event.customer_no != company:
                    continue  # another company's claim: not this company's business
                out.append(self._entry(event, kind, texts, str(Status.REJECTED), device_type, serial,
                                       str(event.reason)))
                continue
            elif kind == "documents_requested":
                status, reason = str(Status.DOCS_REQUIRED), ",".join(event.reasons)
            elif kind == "document_uploaded":
                document_kind = str(event.kind)
                if not event.missing:  # as the aggregate: under review once every needed kind is in
                    status = str(Status.DOCS_UPLOADED)
            elif kind == "documents_approved":
                status = str(Status.PAYMENT_PENDING)
            elif kind == "rejected":
                status, reason = str(Status.REJECTED), str(event.reason)
            elif kind == "paid":
                status = str(Status.PAID)
            if not mine:
                continue  # another company's registration: a refused claimant sees only its own refusal
            entry_status = status
            out.append(self._entry(event, kind, texts, entry_status, device_type, serial, reason, document_kind))
        return out

    def _entry(self, event: Any, kind: str, texts: dict[str, str], status: str | None, device_type: str,
               serial: str, reason: str | None = None, document_kind: str | None = None) -> dict[str, Any]:
        return {
            "at": event.timestamp, "kind": kind, "text": texts[kind], "status": status,
            "label": self.label(status, device_type, serial), "reason": reason,
            "reason_text": self.reason_text(status, reason), "channel": str(getattr(event, "channel", "")),
            "document_kind": document_kind,
        }


def serial_search(typed: str | None) -> str | None:
    """Part of a serial as typed, searched literally; None when nothing is typed.

    The separators a serial is written with are dropped, as the serial's normalisation does (``3001-000``
    finds ``3001000…``); every other character is kept, so ``%`` or ``*`` match no serial rather than all.
    A search made of separators only (``_``) is searched as typed.
    """
    text = unicodedata.normalize("NFKC", typed or "").strip().upper()
    if not text:
        return None
    return strip_serial_separators(text) or text


def workbook_problem(error: WorkbookError, language: str = "fr") -> PortalError:
    """The problem for a file that is not a usable workbook: its detail in English, like every API
    problem, and the web page's text in the portal language."""
    status = 413 if error.code in ("too_large", "too_many_rows") else 422
    return PortalError(status, error.message("en"), code=error.code, title="Workbook rejected",
                       page_detail=error.message(language))


def too_large_text(limit: int, language: str = "fr") -> str:
    """An upload over the portal's limit, for the web page."""
    fr = language != "en"
    if limit >= 1_048_576:
        size = f"{limit / 1_048_576:.3g} {'Mo' if fr else 'MB'}"
    else:
        size = f"{max(1, round(limit / 1024))} {'ko' if fr else 'kB'}"
    if fr:
        return f"fichier trop volumineux : la limite est de {size.replace('.', ',')}"
    return f"file too large: the limit is {size}"


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]

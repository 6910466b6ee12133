"""Excel workbook intake: every row gets a verdict; a re-upload changes nothing.

Verdicts speak the portal language (French by default): the status label next to its code, and a
message — why a row could not be read, why a device is refused, or which documents a device needs
and until when.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from adapters.excel import ParsedRow, Verdict, read_workbook
from cashback.app import CashbackApp, Intake, Outcome
from cashback.documents import document_name
from cashback.mail_texts import rule_text
from domain.decision import RegistrationRequest
from domain.normalise import normalise_customer_no
from domain.provenance import Channel, Provenance
from domain.statuses import Status, label, reason_text
from domain.terms import CampaignTerms
from schemas.excel import ExcelRowV1

#: Labels of the verdict codes that are not device statuses.
OTHER_LABELS: dict[str, dict[str, str]] = {
    "fr": {"ERROR": "Ligne invalide", "NOT_ENROLLED": "Entreprise non inscrite à la campagne"},
    "en": {"ERROR": "Invalid row", "NOT_ENROLLED": "Company not enrolled in the campaign"},
}
ALREADY_REGISTERED = {"fr": "déjà enregistré", "en": "already registered"}
#: A serial quoted in a verdict is at most this long (a valid one is at most 40 characters).
_SERIAL_LIMIT = 40


@dataclass
class WorkbookResult:
    upload_id: str
    verdicts: list[Verdict]

    def counts(self) -> Counter[str]:
        return Counter(v.status for v in self.verdicts)

    def summary(self) -> str:
        counts = self.counts()
        parts = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
        return f"rows: {len(self.verdicts)} ({parts}); upload id {self.upload_id}"


def verdict_label(status: str, *, device_type: str, serial: str, language: str = "fr") -> str:
    """The status of a verdict as installers read it (domain/statuses.py LABELS); the code if unknown."""
    if status in Status.__members__:
        return label(status, device_type=device_type, serial=serial, language=language)
    return OTHER_LABELS.get(language, OTHER_LABELS["fr"]).get(status, status)


def _listed(items: list[str], language: str) -> str:
    """``a``, ``a et b``, ``a, b et c`` (``and`` in English)."""
    last = " et " if language == "fr" else " and "
    return last.join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def documents_message(outcome: Outcome, terms: CampaignTerms, language: str = "fr") -> str:
    """Which documents a device needs, by which day (dd/mm/yyyy), and why."""
    documents = _listed([document_name(kind, language) for kind in outcome.documents], language)
    why = _listed([rule_text(code, language, terms) for code in outcome.doc_reasons], language)
    day = f"{outcome.deadline:%d/%m/%Y}" if outcome.deadline else ""
    if language == "en":
        text = "documents needed" + (f" by {day} at the latest" if day else "")
        text += f": {documents or 'see the portal'}"
        return text + (f"; why: {why}" if why else "")
    text = "documents à fournir" + (f" au plus tard le {day}" if day else "")
    text += f" : {documents or 'voir le portail'}"
    plural = "s" if len(outcome.doc_reasons) > 1 else ""
    return text + (f" ; motif{plural} : {why}" if why else "")


def _message(outcome: Outcome, terms: CampaignTerms, language: str) -> str:
    parts = []
    if outcome.kind == "duplicate":
        parts.append(ALREADY_REGISTERED.get(language, ALREADY_REGISTERED["fr"]))
    elif outcome.status == Status.REJECTED:
        parts.append(reason_text(outcome.reason, language))
    if outcome.status == Status.DOCS_REQUIRED:
        parts.append(documents_message(outcome, terms, language))
    return " ; ".join(parts) if language == "fr" else "; ".join(parts)


def _shown_serial(text: str) -> str:
    return text if len(text) <= _SERIAL_LIMIT else text[:20] + "…"


def ingest_workbook(app: CashbackApp, content: bytes, company: str, actor: str, language: str = "fr") -> WorkbookResult:
    customer_no = normalise_customer_no(company)
    if customer_no not in app.enrolments():
        raise PermissionError(f"company {customer_no} is not enrolled in campaign {app.terms.id}")
    upload_id = hashlib.sha256(content).hexdigest()[:16]
    rows = read_workbook(content, language=language)
    verdicts: dict[int, Verdict] = {}
    good: list[tuple[ParsedRow, ExcelRowV1]] = []
    for parsed in rows:
        if parsed.row is None:
            serial = _shown_serial(parsed.serial_text)
            verdicts[parsed.row_number] = Verdict(
                parsed.row_number, serial, "ERROR", "INVALID_ROW", parsed.error or "",
                verdict_label("ERROR", device_type="", serial=serial, language=language),
            )
        else:
            good.append((parsed, parsed.row))
    intakes = [
        Intake(
            RegistrationRequest(
                serial=row.serial, device_type=row.device_type, installed_on=row.installed_on, customer_no=customer_no
            ),
            Provenance(actor=actor, channel=Channel.EXCEL, source=f"excel:{upload_id}:row {p.row_number}"),
        )
        for p, row in good
    ]
    if intakes:
        result = app.register_batch(intakes)
        for (parsed, row), outcome in zip(good, result.outcomes, strict=True):
            status = outcome.status or outcome.kind.upper()
            verdicts[parsed.row_number] = Verdict(
                parsed.row_number, outcome.serial, status, outcome.reason or "",
                _message(outcome, app.terms, language),
                verdict_label(status, device_type=row.device_type, serial=outcome.serial, language=language),
            )
    return WorkbookResult(upload_id, [verdicts[n] for n in sorted(verdicts)])

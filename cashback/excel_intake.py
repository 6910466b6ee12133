"""Excel workbook intake: every row gets a verdict; a re-upload changes nothing."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from adapters.excel import ParsedRow, Verdict, read_workbook
from cashback.app import CashbackApp, Intake
from domain.decision import RegistrationRequest
from domain.normalise import normalise_customer_no
from domain.provenance import Channel, Provenance
from domain.statuses import reason_text
from schemas.excel import ExcelRowV1


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


def ingest_workbook(app: CashbackApp, content: bytes, company: str, actor: str, language: str = "fr") -> WorkbookResult:
    customer_no = normalise_customer_no(company)
    if customer_no not in app.enrolments():
        raise PermissionError(f"company {customer_no} is not enrolled in campaign {app.terms.id}")
    upload_id = hashlib.sha256(content).hexdigest()[:16]
    rows = read_workbook(content)
    verdicts: dict[int, Verdict] = {}
    good: list[tuple[ParsedRow, ExcelRowV1]] = []
    for parsed in rows:
        if parsed.row is None:
            verdicts[parsed.row_number] = Verdict(
                parsed.row_number, parsed.serial_text, "ERROR", "INVALID_ROW", parsed.error or ""
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
        for (parsed, _row), outcome in zip(good, result.outcomes, strict=True):
            status = outcome.status or outcome.kind.upper()
            if outcome.kind == "duplicate":
                message = "déjà enregistré" if language == "fr" else "already registered"
            else:
                message = reason_text(outcome.reason, language) if outcome.status == "REJECTED" else ""
            verdicts[parsed.row_number] = Verdict(
                parsed.row_number, outcome.serial, status, outcome.reason or "", message
            )
    return WorkbookResult(upload_id, [verdicts[n] for n in sorted(verdicts)])

"""Reads of the status overview: what the portal, the CLI and the payment run ask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.registration import NEW
from domain.statuses import Status, label, reason_text
from projections.db import ProjectionDB

COLUMNS = (
    "serial", "device_type", "status", "amount_cents", "installed_on", "registered_at",
    "updated_at", "deadline", "documents", "reason", "payout_id", "paid_at", "channel",
)


@dataclass(frozen=True, slots=True)
class OverviewRow:
    serial: str
    device_type: str
    status: str
    amount_cents: int
    installed_on: str | None
    registered_at: str
    updated_at: str
    deadline: str | None
    documents: str
    reason: str | None
    payout_id: str | None
    paid_at: str | None
    channel: str

    def label(self, language: str = "fr") -> str:
        if self.status == NEW:
            return ""
        return label(self.status, device_type=self.device_type, serial=self.serial, language=language)

    def reason_text(self, language: str = "fr") -> str:
        if self.status == Status.DOCS_REQUIRED:
            return self.reason or ""
        return reason_text(self.reason, language)

    def as_dict(self, language: str = "fr") -> dict[str, Any]:
        data = {c: getattr(self, c) for c in COLUMNS}
        data["label"] = self.label(language)
        return data


@dataclass(frozen=True, slots=True)
class Totals:
    collected_cents: int
    pending_cents: int
    count_by_status: dict[str, int]

    @property
    def count(self) -> int:
        return sum(self.count_by_status.values())


def overview(
    db: ProjectionDB,
    campaign_id: str,
    customer_no: str,
    *,
    status: str | None = None,
    device_type: str | None = None,
    serial_search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OverviewRow]:
    where, params = _filters(campaign_id, customer_no, status, device_type, serial_search)
    rows = db.query(
        f"SELECT {', '.join(COLUMNS)} FROM overview WHERE {where} ORDER BY registered_at DESC, serial"
        " LIMIT %s OFFSET %s",
        (*params, limit, offset),
    )
    return [OverviewRow(*r) for r in rows]


def count(db: ProjectionDB, campaign_id: str, customer_no: str, **filters: str | None) -> int:
    where, params = _filters(campaign_id, customer_no, filters.get("status"), filters.get("device_type"),
                             filters.get("serial_search"))
    return int(db.query(f"SELECT COUNT(*) FROM overview WHERE {where}", params)[0][0])


def totals(db: ProjectionDB, campaign_id: str, customer_no: str | None = None) -> Totals:
    # Campaign-wide, a device counts once (its owner's row); a company also sees the serials it was refused.
    where = "campaign_id = %s" + (" AND customer_no = %s" if customer_no else " AND is_owner = 1")
    params: tuple[Any, ...] = (campaign_id, customer_no) if customer_no else (campaign_id,)
    rows = db.query(
        f"SELECT status, COUNT(*), COALESCE(SUM(amount_cents), 0) FROM overview WHERE {where} GROUP BY status",
        params,
    )
    counts = {str(s): int(n) for s, n, _ in rows}
    amounts = {str(s): int(a) for s, _, a in rows}
    pending = sum(amounts.get(s, 0) for s in (Status.PAYMENT_PENDING, Status.DOCS_REQUIRED, Status.DOCS_UPLOADED))
    return Totals(collected_cents=amounts.get(Status.PAID, 0), pending_cents=pending, count_by_status=counts)


def payment_queue(db: ProjectionDB, campaign_id: str, as_of: str | None = None) -> list[str]:
    """Registration ids that the next payment run will pay (status pending, in no payout)."""
    sql = (
        "SELECT registration_id FROM overview WHERE campaign_id = %s AND status = %s"
        " AND is_owner = 1 AND payout_id IS NULL"
    )
    params: list[Any] = [campaign_id, str(Status.PAYMENT_PENDING)]
    if as_of:
        sql += " AND updated_at < %s"
        params.append(as_of)
    return [r[0] for r in db.query(sql + " ORDER BY customer_no, serial", params)]


def due_for_expiry(db: ProjectionDB, campaign_id: str, today: str) -> list[str]:
    rows = db.query(
        "SELECT registration_id FROM overview WHERE campaign_id = %s AND status = %s AND is_owner = 1"
        " AND deadline < %s",
        (campaign_id, str(Status.DOCS_REQUIRED), today),
    )
    return [r[0] for r in rows]


def awaiting_review(db: ProjectionDB, campaign_id: str) -> list[tuple[str, str, str, str]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.query(
            "SELECT customer_no, serial, device_type, updated_at FROM overview"
            " WHERE campaign_id = %s AND status = %s AND is_owner = 1 ORDER BY updated_at",
            (campaign_id, str(Status.DOCS_UPLOADED)),
        )
    ]


def payouts(db: ProjectionDB, campaign_id: str, state: str | None = None) -> list[tuple[Any, ...]]:
    sql = ("SELECT payout_id, run_id, customer_no, currency, total_cents, line_count, state, issued_at"
           " FROM payouts WHERE campaign_id = %s")
    params: list[Any] = [campaign_id]
    if state:
        sql += " AND state = %s"
        params.append(state)
    return db.query(sql + " ORDER BY issued_at, customer_no", params)


def _filters(
    campaign_id: str, customer_no: str, status: str | None, device_type: str | None, serial_search: str | None
) -> tuple[str, tuple[Any, ...]]:
    clauses = ["campaign_id = %s", "customer_no = %s"]
    params: list[Any] = [campaign_id, customer_no]
    if status:
        clauses.append("status = %s")
        params.append(status)
    if device_type:
        clauses.append("device_type = %s")
        params.append(device_type)
    if serial_search:  # literal: the search's own % and _ are escaped (SQLite and PostgreSQL alike)
        escaped = serial_search.upper().replace("!", "!!").replace("%", "!%").replace("_", "!_")
        clauses.append("serial LIKE %s ESCAPE '!'")
        params.append(f"%{escaped}%")
    return " AND ".join(clauses), tuple(params)

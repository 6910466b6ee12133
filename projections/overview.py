"""Status overview: one row per (company, serial), what the portal reads.

Also the payout rows that the payment run and finance need. Each event is
turned into row changes; a batch of events and the new tracking position are
written in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.company import Company
from domain.payout import ALL_LINES, Payout
from domain.registration import NEW, DeviceRegistration
from domain.statuses import Reason, Status

NAME = "overview"

TABLES: dict[str, str] = {
    "overview": (
        "CREATE TABLE IF NOT EXISTS {p}overview ("
        " campaign_id TEXT NOT NULL, customer_no TEXT NOT NULL, serial TEXT NOT NULL,"
        " registration_id TEXT NOT NULL, is_owner INTEGER NOT NULL, device_type TEXT NOT NULL,"
        " status TEXT NOT NULL, amount_cents BIGINT NOT NULL, installed_on TEXT,"
        " registered_at TEXT NOT NULL, updated_at TEXT NOT NULL, deadline TEXT,"
        " documents TEXT NOT NULL DEFAULT '', reason TEXT, payout_id TEXT, paid_at TEXT,"
        " channel TEXT NOT NULL, source TEXT NOT NULL,"
        " PRIMARY KEY (campaign_id, customer_no, serial))"
    ),
    "payouts": (
        "CREATE TABLE IF NOT EXISTS {p}payouts ("
        " payout_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, campaign_id TEXT NOT NULL,"
        " customer_no TEXT NOT NULL, currency TEXT NOT NULL, total_cents BIGINT NOT NULL,"
        " line_count INTEGER NOT NULL, state TEXT NOT NULL, issued_at TEXT NOT NULL,"
        " settled_at TEXT, reference TEXT, failure TEXT,"
        " confirmed_lines INTEGER NOT NULL DEFAULT 0, failed_lines INTEGER NOT NULL DEFAULT 0)"
    ),
}
INDEXES = (
    "CREATE INDEX IF NOT EXISTS {p}overview_reg ON {p}overview (registration_id)",
    "CREATE INDEX IF NOT EXISTS {p}overview_status ON {p}overview (campaign_id, status)",
    "CREATE INDEX IF NOT EXISTS {p}overview_company ON {p}overview (campaign_id, customer_no, status, amount_cents)",
)
TRACKING_TABLE = (
    "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Change:
    sql: str
    params: tuple[Any, ...]


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


class OverviewProjection:
    """Translates domain events into row changes of the overview tables.

    ``prefix`` lets a rebuild write into shadow tables with the same logic.
    """

    name = NAME

    def __init__(self, prefix: str = "") -> None:
        self.p = prefix

    def create_statements(self) -> list[str]:
        return [s.format(p=self.p) for s in (*TABLES.values(), *INDEXES)] + [TRACKING_TABLE]

    def changes(self, event: Any) -> list[Change]:
        handler = getattr(self, "_on_" + type(event).__qualname__.replace(".", "_"), None)
        return handler(event) if handler else []

    # --- registrations --------------------------------------------------------------

    def _update(self, event: Any, assignments: str, *params: Any) -> list[Change]:
        sql = (
            f"UPDATE {self.p}overview SET {assignments}, updated_at = %s, channel = %s, source = %s"
            " WHERE registration_id = %s AND is_owner = 1"
        )
        return [Change(sql, (*params, _iso(event.timestamp), event.channel, event.source, str(event.originator_id)))]

    def _on_DeviceRegistration_Registered(self, e: DeviceRegistration.Registered) -> list[Change]:
        status = Status.PAYMENT_PENDING if e.outcome == Status.PAYMENT_PENDING else NEW
        sql = (
            f"INSERT INTO {self.p}overview (campaign_id, customer_no, serial, registration_id, is_owner,"
            " device_type, status, amount_cents, installed_on, registered_at, updated_at, channel, source)"
            " VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        ts = _iso(e.timestamp)
        return [Change(sql, (e.campaign_id, e.customer_no, e.serial, str(e.originator_id), e.device_type,
                             str(status), e.amount_cents, _iso(e.installed_on), ts, ts, e.channel, e.source))]

    def _on_DeviceRegistration_DocumentsRequested(self, e: DeviceRegistration.DocumentsRequested) -> list[Change]:
        return self._update(e, "status = %s, deadline = %s, documents = %s, reason = %s",
                            str(Status.DOCS_REQUIRED), _iso(e.deadline), ",".join(e.documents), ",".join(e.reasons))

    def _on_DeviceRegistration_DocumentUploaded(self, e: DeviceRegistration.DocumentUploaded) -> list[Change]:
        # As the aggregate: DOCS_UPLOADED once nothing needed is missing; until then the status stays.
        if e.missing:
            return self._update(e, "status = status")
        return self._update(e, "status = %s", str(Status.DOCS_UPLOADED))

    def _on_DeviceRegistration_DocumentsApproved(self, e: DeviceRegistration.DocumentsApproved) -> list[Change]:
        return self._update(e, "status = %s, reason = NULL", str(Status.PAYMENT_PENDING))

    def _on_DeviceRegistration_Rejected(self, e: DeviceRegistration.Rejected) -> list[Change]:
        # A rejected device owes nothing: its amount no longer shows (nor counts) anywhere.
        return self._update(e, "status = %s, reason = %s, amount_cents = 0", str(Status.REJECTED), e.reason)

    def _on_DeviceRegistration_Reregistered(self, e: DeviceRegistration.Reregistered) -> list[Change]:
        """The owner row moves to the new company; the previous owner keeps its rejected row."""
        ts = _iso(e.timestamp)
        rid = str(e.originator_id)
        status = str(Status.PAYMENT_PENDING if e.outcome == Status.PAYMENT_PENDING else NEW)
        if e.previous_customer_no == e.customer_no:
            return self._update(
                e, "device_type = %s, status = %s, amount_cents = %s, installed_on = %s, deadline = NULL,"
                " documents = '', reason = NULL", e.device_type, status, e.amount_cents, _iso(e.installed_on))
        return [
            Change(f"DELETE FROM {self.p}overview WHERE registration_id = %s AND is_owner = 0 AND customer_no = %s",
                   (rid, e.customer_no)),
            Change(f"UPDATE {self.p}overview SET is_owner = 0 WHERE registration_id = %s AND is_owner = 1", (rid,)),
            Change(
                f"INSERT INTO {self.p}overview (campaign_id, customer_no, serial, registration_id, is_owner,"
                " device_type, status, amount_cents, installed_on, registered_at, updated_at, channel, source)"
                " SELECT campaign_id, %s, serial, registration_id, 1, %s, %s, %s, %s, %s, %s, %s, %s"
                f" FROM {self.p}overview WHERE registration_id = %s AND customer_no = %s",
                (e.customer_no, e.device_type, status, e.amount_cents, _iso(e.installed_on), ts, ts, e.channel,
                 e.source, rid, e.previous_customer_no),
            ),
        ]

    def _on_DeviceRegistration_ClaimRefused(self, e: DeviceRegistration.ClaimRefused) -> list[Change]:
        ts = _iso(e.timestamp)
        sql = (
            f"INSERT INTO {self.p}overview (campaign_id, customer_no, serial, registration_id, is_owner,"
            " device_type, status, amount_cents, installed_on, registered_at, updated_at, reason, channel, source)"
            " SELECT campaign_id, %s, serial, registration_id, 0, device_type, %s, 0, NULL, %s, %s, %s, %s, %s"
            f" FROM {self.p}overview WHERE registration_id = %s AND is_owner = 1"
            " ON CONFLICT (campaign_id, customer_no, serial) DO NOTHING"
        )
        return [Change(sql, (e.customer_no, str(Status.REJECTED), ts, ts, str(Reason.ALREADY_CLAIMED),
                             e.channel, e.source, str(e.originator_id)))]

    def _on_DeviceRegistration_AddedToPayout(self, e: DeviceRegistration.AddedToPayout) -> list[Change]:
        return self._update(e, "payout_id = %s", str(e.payout_id))

    def _on_DeviceRegistration_Paid(self, e: DeviceRegistration.Paid) -> list[Change]:
        return self._update(e, "status = %s, paid_at = %s", str(Status.PAID), _iso(e.timestamp))

    def _on_DeviceRegistration_PayoutFailed(self, e: DeviceRegistration.PayoutFailed) -> list[Change]:
        return self._update(e, "payout_id = NULL, reason = %s", e.reason)

    # --- payouts ------------------------------------------------------------------------

    def _on_Payout_Issued(self, e: Payout.Issued) -> list[Change]:
        sql = (
            f"INSERT INTO {self.p}payouts (payout_id, run_id, campaign_id, customer_no, currency,"
            " total_cents, line_count, state, issued_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'issued', %s)"
        )
        return [Change(sql, (str(e.originator_id), e.run_id, e.campaign_id, e.customer_no, e.currency,
                             e.total_cents, len(e.lines), _iso(e.timestamp)))]

    @staticmethod
    def _answered(serials: list[str], column: str) -> str:
        """SQL for the new count of answered lines (an upcast version 1 event answers for all)."""
        return "line_count" if serials == ALL_LINES else f"{column} + {len(serials)}"

    _PAYOUT_STATE = (
        "state = CASE WHEN confirmed_lines = line_count THEN 'confirmed'"
        " WHEN failed_lines = line_count THEN 'failed' ELSE 'partially_settled' END"
    )

    def _on_Payout_Confirmed(self, e: Payout.Confirmed) -> list[Change]:
        count = (f"UPDATE {self.p}payouts SET confirmed_lines = {self._answered(e.serials, 'confirmed_lines')},"
                 " settled_at = %s, reference = %s")
        return [
            Change(count + " WHERE payout_id = %s", (_iso(e.timestamp), e.reference, str(e.originator_id))),
            Change(f"UPDATE {self.p}payouts SET {self._PAYOUT_STATE} WHERE payout_id = %s", (str(e.originator_id),)),
        ]

    def _on_Payout_Failed(self, e: Payout.Failed) -> list[Change]:
        count = (f"UPDATE {self.p}payouts SET failed_lines = {self._answered(e.serials, 'failed_lines')},"
                 " settled_at = %s, failure = %s")
        return [
            Change(count + " WHERE payout_id = %s", (_iso(e.timestamp), e.reason, str(e.originator_id))),
            Change(f"UPDATE {self.p}payouts SET {self._PAYOUT_STATE} WHERE payout_id = %s", (str(e.originator_id),)),
        ]

    def _on_Company_Enrolled(self, e: Company.Enrolled) -> list[Change]:
        return []


def changes_for(projection: OverviewProjection, events: Sequence[Any]) -> list[Change]:
    out: list[Change] = []
    for event in events:
        out.extend(projection.changes(event))
    return out

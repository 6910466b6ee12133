"""`cashback audit history`: a device's events, in order, and its state at any past moment.

Everything here is rebuilt from the event store (the application's recorder, mapper and
repository) — never from a projection: the history is what auditors replay, so it must not
depend on a read model that could have drifted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError

from cashback.event_rows import stream_events
from domain.ids import registration_id
from domain.normalise import normalise_serial

COMMON_FIELDS = {"timestamp", "originator_id", "originator_version", "originator_topic", "actor", "channel", "source"}
CSV_COLUMNS = ("notification_id", "time", "aggregate", "originator_id", "version", "kind", "actor", "channel", "source",
               "status_after", "details")
STATE_FIELDS = ("status", "reason", "reviewer", "customer_no", "device_type", "installed_on", "amount_cents",
                "deadline", "documents_needed", "documents_missing", "uploads", "refused_claims", "payout_id",
                "paid_cents", "last_payout_failure")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def plain(value: Any) -> Any:
    """JSON-friendly: dates as ISO text, UUIDs as text, containers recursively."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def csv_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (' before = + - @ tab CR)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def parse_moment(text: str, timezone: str) -> datetime:
    """An ISO datetime (without an offset: the campaign's time zone) or a date (its end, same zone)."""
    text = text.strip()
    zone = ZoneInfo(timezone)
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day, time.max, tzinfo=zone)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    time: datetime
    aggregate: str  # "device" or "payout"
    originator_id: str
    version: int
    kind: str
    actor: str
    channel: str
    source: str
    status_after: str
    details: dict[str, Any]
    notification_id: int = 0  # position in the event store's log: the order things happened in

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "aggregate": self.aggregate, "originator_id": self.originator_id,
                "version": self.version, "kind": self.kind, "actor": self.actor, "channel": self.channel,
                "source": self.source, "status_after": self.status_after, "details": self.details,
                "notification_id": self.notification_id}


@dataclass
class DeviceHistory:
    serial: str
    campaign_id: str
    registration_id: str
    entries: list[HistoryEntry]
    as_of: datetime | None = None
    state: dict[str, Any] | None = None  # the device as of ``as_of``, rebuilt by the repository
    version_as_of: int | None = None
    versions: int = 0
    payouts_as_of: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "serial": self.serial, "campaign_id": self.campaign_id, "registration_id": self.registration_id,
            "events": [e.as_dict() for e in self.entries],
        }
        if self.as_of is not None:
            data.update({"as_of": self.as_of.isoformat(), "version_as_of": self.version_as_of,
                         "versions": self.versions, "state_as_of": self.state, "payouts_as_of": self.payouts_as_of})
        return data


def _kind(event: Any) -> str:
    return type(event).__qualname__.split(".")[-1]


def _details(event: Any) -> dict[str, Any]:
    return {k: plain(v) for k, v in vars(event).items() if k not in COMMON_FIELDS}


def _status(aggregate: Any) -> str:
    value = getattr(aggregate, "status", None)
    if value is None:
        value = getattr(aggregate, "state", "")
    return str(value)


def _payout_details(details: dict[str, Any], serial: str) -> dict[str, Any]:
    """A payout event seen from one device: its own line, not the hundreds of the others."""
    out = dict(details)
    if isinstance(out.get("lines"), list):
        lines = out.pop("lines")
        out["line_count"] = len(lines)
        out["line"] = next((line for line in lines if isinstance(line, dict) and line.get("serial") == serial), None)
    if isinstance(out.get("serials"), list):
        serials = out.pop("serials")
        out["serial_count"] = len(serials)
        out["includes_device"] = serial in serials
    return out


def replay(app: Any, originator_id: UUID, label: str, serial: str = "") -> list[HistoryEntry]:
    """Every event of one aggregate with the status after it, by applying them one by one."""
    entries: list[HistoryEntry] = []
    aggregate = None
    positions = {r.originator_version: r.notification_id
                 for r in stream_events(app.recorder, "aggregate", originator_id=originator_id)}
    for event in app.events.get(originator_id):
        aggregate = event.mutate(aggregate)
        details = _details(event)
        if label == "payout":
            details = _payout_details(details, serial)
        entries.append(HistoryEntry(
            time=event.timestamp, aggregate=label, originator_id=str(originator_id),
            version=event.originator_version, kind=_kind(event), actor=getattr(event, "actor", ""),
            channel=getattr(event, "channel", ""), source=getattr(event, "source", ""),
            status_after=_status(aggregate), details=details,
            notification_id=positions.get(event.originator_version, 0),
        ))
    return entries


def _payout_ids(entries: Iterable[HistoryEntry]) -> list[UUID]:
    ids = [e.details["payout_id"] for e in entries if e.details.get("payout_id")]
    return [UUID(i) for i in dict.fromkeys(ids)]


def state_of(aggregate: Any, names: Sequence[str] = STATE_FIELDS) -> dict[str, Any]:
    data = {n: plain(getattr(aggregate, n)) for n in names if hasattr(aggregate, n)}
    data["version"] = aggregate.version
    return data


def device_history(
    app: Any, serial: str, *, campaign_id: str | None = None, as_of: datetime | None = None, payouts: bool = True
) -> DeviceHistory | None:
    """None when the device was never registered in the campaign."""
    campaign = campaign_id or app.terms.id
    normalised = normalise_serial(serial)
    rid = registration_id(campaign, normalised)
    entries = replay(app, rid, "device")
    if not entries:
        return None
    payout_ids = _payout_ids(entries) if payouts else []
    for pid in payout_ids:
        entries.extend(replay(app, pid, "payout", normalised))
    entries.sort(key=lambda e: (e.notification_id, e.aggregate != "device", e.version))
    history = DeviceHistory(serial=normalised, campaign_id=campaign, registration_id=str(rid), entries=entries)
    if as_of is None:
        return history
    history.as_of = as_of
    device_versions = [e.version for e in entries if e.aggregate == "device"]
    history.versions = max(device_versions)
    history.entries = [e for e in entries if e.time <= as_of]
    upto = [e.version for e in history.entries if e.aggregate == "device"]
    if upto:
        history.version_as_of = max(upto)
        # The repository rebuilds the aggregate from its events up to that version.
        history.state = state_of(app.repository.get(rid, version=history.version_as_of))
    for pid in payout_ids:
        versions = [e.version for e in history.entries if e.aggregate == "payout" and e.originator_id == str(pid)]
        if versions:
            try:
                payout = app.repository.get(pid, version=max(versions))
            except AggregateNotFoundError:  # pragma: no cover - the events were just read
                continue
            history.payouts_as_of[str(pid)] = {"state": _status(payout), "version": payout.version,
                                               "total_cents": getattr(payout, "total_cents", None)}
    return history


# --- output -----------------------------------------------------------------------------------

def _short(details: dict[str, Any], width: int = 70) -> str:
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"
                     for k, v in details.items() if v not in ("", None, [], {}))
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(history: DeviceHistory) -> str:
    out = io.StringIO()
    out.write(f"device {history.serial} — campaign {history.campaign_id}, aggregate {history.registration_id}\n")
    header = f"{'time':<25} {'kind':<19} {'status after':<16} {'actor':<22} {'channel':<8} source / details"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for e in history.entries:
        kind = e.kind if e.aggregate == "device" else f"payout.{e.kind}"
        status = e.status_after if e.aggregate == "device" else f"payout {e.status_after}"
        out.write(f"{e.time.isoformat():<25} {kind:<19} {status:<16} {e.actor:<22} {e.channel:<8} {e.source}\n")
        if short := _short(e.details):
            out.write(f"{'':<25} {'':<19} {'':<16} {short}\n")
    if history.as_of is not None:
        out.write(f"\nas of {history.as_of.isoformat()}: ")
        if history.state is None:
            out.write("the device was not registered yet\n")
        else:
            out.write(f"status {history.state.get('status')} (version {history.version_as_of} of {history.versions}),"
                      " rebuilt from the event store\n")
            for key, value in history.state.items():
                if key != "status" and value not in (None, "", [], {}):
                    out.write(f"  {key}: {value}\n")
            for pid, payout in history.payouts_as_of.items():
                out.write(f"  payout {pid}: {payout['state']} (version {payout['version']})\n")
    return out.getvalue()


def render_csv(history: DeviceHistory) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in history.entries:
        row = e.as_dict()
        row["details"] = json.dumps(e.details, ensure_ascii=False, sort_keys=True)
        writer.writerow([csv_safe(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def render_json(history: DeviceHistory) -> str:
    return json.dumps(history.as_dict(), ensure_ascii=False, indent=2)

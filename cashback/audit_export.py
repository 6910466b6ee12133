"""`cashback audit export`: every event of a campaign as CSV and JSON Lines, with a manifest.

The manifest (manifest.json) holds the counts per event kind, the first and last event times, the
sha256 of each file, and the chain head of every aggregate (its newest version and chain hash).
Kept apart from the database (printed, signed, stored by the auditor), the heads make the one
tampering the chain cannot show by itself detectable later: removing the newest events of an
aggregate, or a whole aggregate (`cashback audit verify --heads manifest.json`).

Each row carries the stored state exactly as stored (``state``), so anyone holding the key can
recompute the chain from the export alone.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from adapters import chain
from cashback.audit import csv_safe
from cashback.event_rows import RawEvent, is_postgres, stream_events, table_name

COLUMNS = ("notification_id", "time", "originator_id", "version", "aggregate_type", "kind", "subject", "actor",
           "channel", "source", "topic", "state", "chain_hash")
FILES = ("events.csv", "events.jsonl")
log = structlog.get_logger(__name__)


@dataclass
class ExportResult:
    out_dir: Path
    events: int
    aggregates: int
    manifest: Path


def _subject(state: dict[str, Any], kind: str) -> str:
    if "serial" in state:
        return str(state["serial"])
    if "run_id" in state:
        return f"{state.get('customer_no', '')}/{state['run_id']}"
    if "customer_no" in state:
        return str(state["customer_no"])
    return kind


def campaign_members(recorder: Any, campaign_id: str) -> dict[str, str]:
    """The aggregates of one campaign (from their first event): originator id (text) -> subject."""
    members: dict[str, str] = {}
    for row in stream_events(recorder, "aggregate", version1_only=True):
        try:
            state = json.loads(bytes(row.state))
        except ValueError:
            continue
        if state.get("campaign_id") == campaign_id:
            members[row.originator_id] = _subject(state, row.topic.rsplit(".", 1)[-1])
    return members


def _heads(recorder: Any, members: dict[str, str]) -> Iterator[tuple[str, int, bytes]]:
    """(id, newest version, its chain hash) of every aggregate of the campaign, ordered by id."""
    table = table_name(recorder)
    if is_postgres(recorder):
        statement = (f"SELECT DISTINCT ON (originator_id) originator_id, originator_version, chain_hash FROM {table}"
                     " ORDER BY originator_id, originator_version DESC")
        convert: Any = str
    else:
        # SQLite: with MAX(), the bare columns come from the row holding the maximum.
        statement = (f"SELECT originator_id, MAX(originator_version), chain_hash FROM {table}"
                     " GROUP BY originator_id ORDER BY originator_id")
        convert = chain.uuid_text_from_hex if recorder.datastore.originator_id_type == "uuid" else str
    for oid, version, digest in _stream_statement(recorder, statement):
        ident = convert(oid)
        if ident in members:
            yield ident, int(version), bytes(digest or b"")


def _stream_statement(recorder: Any, statement: str, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    if is_postgres(recorder):
        from psycopg.rows import tuple_row

        with (recorder.datastore.get_connection() as conn, conn.transaction(),
              conn.cursor(name="audit_heads", row_factory=tuple_row) as cursor):
            cursor.itersize = batch
            cursor.execute(statement)
            while rows := cursor.fetchmany(batch):
                yield from rows
    else:
        with recorder.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.execute(statement)
            while rows := cursor.fetchmany(batch):
                yield from (tuple(r) for r in rows)


def _row(event: RawEvent, subject: str) -> dict[str, Any]:
    text = bytes(event.state).decode("utf-8", "replace")
    try:
        state = json.loads(text)
    except ValueError:
        state = {}
    timestamp = state.get("timestamp")
    moment = timestamp.get("_data_") if isinstance(timestamp, dict) else timestamp
    qualname = event.topic.split(":")[-1]
    aggregate_type, _, kind = qualname.rpartition(".")
    return {
        "notification_id": event.notification_id, "time": moment or "", "originator_id": event.originator_id,
        "version": event.originator_version, "aggregate_type": aggregate_type, "kind": kind, "subject": subject,
        "actor": state.get("actor", ""), "channel": state.get("channel", ""), "source": state.get("source", ""),
        "topic": event.topic, "state": text,
        "chain_hash": bytes(event.chain_hash).hex() if event.chain_hash is not None else "",
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def key_id(key: bytes) -> str:
    """Names the key without revealing it (which key sealed the chains of this export)."""
    return hashlib.sha256(b"cashback-audit-key-id\x00" + key).hexdigest()[:16]


def export(recorder: Any, campaign_id: str, out_dir: Path, key: bytes, *, now: datetime | None = None) -> ExportResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    members = campaign_members(recorder, campaign_id)
    kinds: Counter[str] = Counter()
    first: datetime | None = None
    last: datetime | None = None
    events = 0
    csv_path, jsonl_path = out_dir / FILES[0], out_dir / FILES[1]
    with csv_path.open("w", encoding="utf-8", newline="") as csv_file, jsonl_path.open("w", encoding="utf-8") as jl:
        writer = csv.writer(csv_file, lineterminator="\n")
        writer.writerow(COLUMNS)
        for event in stream_events(recorder, "notification"):
            subject = members.get(event.originator_id)
            if subject is None:
                continue
            row = _row(event, subject)
            writer.writerow([csv_safe(row[c]) for c in COLUMNS])
            jl.write(json.dumps(row, ensure_ascii=False) + "\n")
            events += 1
            kinds[f"{row['aggregate_type']}.{row['kind']}"] += 1
            if row["time"]:
                moment = datetime.fromisoformat(row["time"])
                first = min(first, moment) if first else moment
                last = max(last, moment) if last else moment
    manifest_path = out_dir / "manifest.json"
    files = {name: {"sha256": _sha256(out_dir / name), "bytes": (out_dir / name).stat().st_size, "rows": events}
             for name in FILES}
    head_info = {"format": chain.FORMAT.decode(), "key_id": key_id(key),
                 "development_key": chain.is_development_key(key)}
    # The heads are streamed into the manifest, so the export's memory does not grow with them.
    digest = hashlib.sha256()
    count = 0
    with manifest_path.open("w", encoding="utf-8") as handle:
        header = {
            "campaign_id": campaign_id,
            "generated_at": (now or datetime.now(UTC)).isoformat(),
            "events": events,
            "aggregates": len(members),
            "first_event_at": first.isoformat() if first else None,
            "last_event_at": last.isoformat() if last else None,
            "counts_by_kind": dict(sorted(kinds.items())),
            "files": files,
            "chain": head_info,
        }
        text = json.dumps(header, ensure_ascii=False, indent=1)
        handle.write(text[:-2] + ',\n "chain_heads": {\n  "heads": [')
        for ident, version, chain_hash in _heads(recorder, members):
            handle.write(("\n   " if count == 0 else ",\n   ") + json.dumps([ident, version, chain_hash.hex()]))
            digest.update(f"{ident}\x1f{version}\x1f{chain_hash.hex()}\n".encode())
            count += 1
        handle.write(f'\n  ],\n  "count": {count},\n  "digest": "{digest.hexdigest()}"\n }}\n}}\n')
    log.info("audit_exported", campaign_id=campaign_id, out_dir=str(out_dir), events=events, aggregates=len(members),
             heads=count, heads_digest=digest.hexdigest())
    return ExportResult(out_dir=out_dir, events=events, aggregates=len(members), manifest=manifest_path)

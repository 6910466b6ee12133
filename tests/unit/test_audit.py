"""Audit on the embedded store (SQLite): hash chain at insert time, verify's findings, history and
state as of a moment, export with its manifest. The same checks on real PostgreSQL rows are in
tests/integration/test_audit.py."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from adapters import chain
from cashback.app import CashbackApp, Intake
from cashback.audit import csv_safe, device_history, parse_moment
from cashback.audit_chain import check_aggregate, verify
from cashback.audit_export import export
from cashback.clock import FixedClock
from cashback.event_rows import RawEvent, stream_events
from domain.catalog import InMemoryCatalog
from domain.decision import RegistrationRequest
from domain.ids import registration_id
from domain.provenance import Channel, Provenance
from domain.terms import DocumentKind
from tests.unit.conftest import (
    CAMPAIGN,
    CATALOG_ENTRIES,
    ENROLLED,
    ENROLLED_TOO,
    ENROLMENTS,
    FEED,
    PAYABLE_SB3,
    PAYABLE_SB5,
    SB3,
    SB5,
    SOLD_ABROAD,
    STAFF,
    both_documents_terms,
    make_terms,
)

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
KEY = chain.DEVELOPMENT_KEY.encode()


@pytest.fixture
def store(tmp_path: Path) -> tuple[CashbackApp, FixedClock, Path]:
    """An application on a SQLite file, with a history: payable, paid, documents refused, claimed."""
    clock = FixedClock(T0)
    path = tmp_path / "events.sqlite"
    app = CashbackApp(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
             "PROCESS_RECORDER_TOPIC": "adapters.sqlite_store:CashbackSQLiteRecorder"},
        terms=make_terms(), catalog=InMemoryCatalog(CATALOG_ENTRIES), clock=clock,
    )
    app.enrol(ENROLMENTS, Provenance("ops", Channel.STAFF, "companies.csv"))
    clock.advance(hours=1)
    for serial, device_type in ((PAYABLE_SB3, SB3), (PAYABLE_SB5, SB5), (SOLD_ABROAD, SB3)):
        app.register_batch([Intake(RegistrationRequest(serial, device_type, date(2026, 5, 2), ENROLLED), FEED)])
    clock.advance(days=1)
    app.register_batch([Intake(RegistrationRequest(PAYABLE_SB5, SB5, date(2026, 5, 2), ENROLLED_TOO), FEED)])
    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "cd" * 32, 1000,
                      Provenance(f"portal:{ENROLLED}", Channel.MANUAL, "document:upload-1"))
    clock.advance(days=1)
    app.reject(SOLD_ABROAD, "invoice unreadable", STAFF)
    clock.advance(days=1)
    system = Provenance("payment-run", Channel.SYSTEM, "run-1")
    [payout] = app.payment_run([registration_id(CAMPAIGN, PAYABLE_SB3)], "run-1", system)
    clock.advance(days=1)
    app.settle_payout(payout.id, "confirmed", Provenance("finance", Channel.FINANCE, "results/0/1"), reference="REF")
    return app, clock, path


def _rows(app: CashbackApp) -> list[RawEvent]:
    return list(stream_events(app.recorder, "aggregate"))


def _report(app: CashbackApp, key: bytes = KEY) -> set[tuple[str, str, int]]:
    result = verify(stream_events(app.recorder, "aggregate"), key)
    return {(f.kind, f.subject, f.version) for f in result.findings}


# --- the chain at insert time ---------------------------------------------------------------------

def test_every_stored_event_carries_its_link_in_its_aggregates_chain(store) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = store
    rows = _rows(app)
    assert len(rows) >= 14
    previous: dict[str, bytes] = {}
    for row in rows:
        link = chain.GENESIS if row.originator_version == 1 else previous[row.originator_id]
        state = bytes(row.state)
        expected = chain.hmac.new(KEY, b"".join((
            b"CBCHAIN1", len(row.originator_id).to_bytes(4, "big"), row.originator_id.encode(),
            row.originator_version.to_bytes(8, "big"), len(row.topic).to_bytes(4, "big"), row.topic.encode(),
            len(state).to_bytes(8, "big"), state, link,
        )), hashlib.sha256).digest()
        assert row.chain_hash == expected, (row.originator_id, row.originator_version)
        previous[row.originator_id] = expected


def test_previous_hash_comes_from_the_batch_or_from_one_lookup(tmp_path: Path) -> None:
    from eventsourcing.sqlite import SQLiteDatastore

    from adapters.sqlite_store import CashbackSQLiteRecorder

    datastore = SQLiteDatastore(str(tmp_path / "e.sqlite"))
    recorder = CashbackSQLiteRecorder(datastore)
    recorder.create_table()
    a, b = uuid4(), uuid4()
    statements: list[str] = []
    recorder.insert_events([StoredEvent(a, 1, "x:A", b"1"), StoredEvent(b, 1, "x:A", b"1")])
    # a batch of version-1 events asks nothing; a batch continuing stored chains asks once
    original = recorder._previous_hashes

    def spy(c, events):  # type: ignore[no-untyped-def]
        found = original(c, events)
        statements.append(f"{len(chain.previous_needed(events))} needed")
        return found

    recorder._previous_hashes = spy  # type: ignore[method-assign]
    recorder.insert_events([StoredEvent(uuid4(), 1, "x:A", b"1") for _ in range(50)])
    recorder.insert_events([StoredEvent(a, 2, "x:B", b"2"), StoredEvent(a, 3, "x:C", b"3"),
                            StoredEvent(b, 2, "x:B", b"2")])
    assert statements == ["0 needed", "2 needed"]
    rows = [r for r in stream_events(recorder, "aggregate") if r.originator_id in (str(a), str(b))]
    assert not check_aggregate(KEY, [r for r in rows if r.originator_id == str(a)])
    assert not check_aggregate(KEY, [r for r in rows if r.originator_id == str(b)])
    datastore.close()


def test_a_store_made_before_the_chain_gets_the_column_and_its_old_rows_are_reported_unsealed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT,"
                " state BLOB, PRIMARY KEY (originator_id, originator_version))")
    old = uuid4()
    raw.execute("INSERT INTO stored_events VALUES (?, 1, 'x:A', x'7b7d')", (old.hex,))
    raw.commit()
    raw.close()
    from eventsourcing.sqlite import SQLiteDatastore

    from adapters.sqlite_store import CashbackSQLiteRecorder

    datastore = SQLiteDatastore(str(path))
    recorder = CashbackSQLiteRecorder(datastore)
    recorder.create_table()
    recorder.insert_events([StoredEvent(old, 2, "x:B", b"{}"), StoredEvent(uuid4(), 1, "x:A", b"{}")])
    result = verify(stream_events(recorder, "aggregate"), KEY)
    assert {(f.kind, f.version) for f in result.findings} == {("unsealed", 1)}
    datastore.close()


# --- verify ---------------------------------------------------------------------------------------

def test_a_clean_store_verifies(store) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = store
    result = verify(stream_events(app.recorder, "aggregate"), KEY)
    assert result.ok and result.events == len(_rows(app)) and result.aggregates >= 7


def test_another_key_does_not_verify(store) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = store
    result = verify(stream_events(app.recorder, "aggregate"), b"someone else's key")
    assert result.counts and result.counts.get("edited_or_inserted", 0) + result.counts.get("edited", 0) > 0


def _sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(path)
    conn.execute(statement, params)
    conn.commit()
    conn.close()


def test_each_kind_of_tampering_is_found_with_the_device_and_position(store) -> None:  # type: ignore[no-untyped-def]
    app, _, path = store
    paid = registration_id(CAMPAIGN, PAYABLE_SB3).hex  # Registered, AddedToPayout, Paid
    refused = registration_id(CAMPAIGN, SOLD_ABROAD).hex  # Registered, DocumentsRequested, Uploaded, Rejected
    claimed = registration_id(CAMPAIGN, PAYABLE_SB5).hex  # Registered, ClaimRefused

    _sql(path, "UPDATE stored_events SET state = replace(state, 'REF', 'XXX') WHERE originator_id = ?"
               " AND originator_version = 2", (paid,))  # no 'REF' in v2: nothing changes
    assert _report(app) == set()

    _sql(path, "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), '\"amount_cents\":5000',"
               " '\"amount_cents\":9000') AS BLOB) WHERE originator_id = ? AND originator_version = 2", (paid,))
    assert _report(app) == {("edited", f"device {PAYABLE_SB3}", 2)}

    _sql(path, "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 3", (refused,))
    assert ("deleted", f"device {SOLD_ABROAD}", 4) in _report(app)

    # swap the payloads of versions 1 and 2 of the claimed device
    _sql(path, "UPDATE stored_events SET originator_version = -originator_version WHERE originator_id = ?", (claimed,))
    _sql(path, "UPDATE stored_events SET originator_version = CASE originator_version WHEN -1 THEN 2 ELSE 1 END"
               " WHERE originator_id = ?", (claimed,))
    found = _report(app)
    assert {(k, v) for k, s, v in found if s == f"device {PAYABLE_SB5}"} == {("reordered", 1), ("reordered", 2)}

    forged = uuid4()
    _sql(path, "INSERT INTO stored_events VALUES (?, 1, 'domain.registration:DeviceRegistration.Registered',"
               " ?, ?)", (forged.hex, json.dumps({"serial": "3999999990"}).encode(), b"\x00" * 32))
    assert ("edited_or_inserted", "device 3999999990", 1) in _report(app)


def test_an_event_inserted_in_the_middle_is_told_apart(store) -> None:  # type: ignore[no-untyped-def]
    app, _, path = store
    refused = registration_id(CAMPAIGN, SOLD_ABROAD).hex  # versions 1..4
    _sql(path, "UPDATE stored_events SET originator_version = originator_version + 100"
               " WHERE originator_id = ? AND originator_version >= 2", (refused,))
    _sql(path, "UPDATE stored_events SET originator_version = originator_version - 99"
               " WHERE originator_id = ? AND originator_version > 100", (refused,))
    _sql(path, "INSERT INTO stored_events VALUES (?, 2, 'domain.registration:DeviceRegistration.DocumentsApproved',"
               " ?, ?)", (refused, b'{"actor":"mallory"}', b"\x01" * 32))
    found = _report(app)
    assert ("inserted", f"device {SOLD_ABROAD}", 2) in found
    assert {(k, v) for k, _, v in found} == {("inserted", 2), ("reordered", 3), ("reordered", 4), ("reordered", 5)}


def test_a_removed_newest_event_needs_the_exported_heads(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, _, path = store
    out = tmp_path / "export"
    export(app.recorder, CAMPAIGN, out, KEY)
    from cashback.audit_chain import load_heads

    heads = load_heads(out)
    paid = registration_id(CAMPAIGN, PAYABLE_SB3)
    _sql(path, "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 3", (paid.hex,))
    claimed = registration_id(CAMPAIGN, PAYABLE_SB5)
    _sql(path, "DELETE FROM stored_events WHERE originator_id = ?", (claimed.hex,))
    assert verify(stream_events(app.recorder, "aggregate"), KEY).ok  # what the chain alone cannot see
    result = verify(stream_events(app.recorder, "aggregate"), KEY, heads=heads)
    assert {(f.kind, f.originator_id, f.version) for f in result.findings} == {
        ("truncated", str(paid), 3), ("missing_aggregate", str(claimed), 2),
    }


# --- history and state as of a moment -------------------------------------------------------------------

def test_history_replays_every_event_with_its_provenance_and_status(store) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = store
    history = device_history(app, SOLD_ABROAD)
    assert history is not None
    assert [(e.kind, e.status_after, e.channel) for e in history.entries] == [
        ("Registered", "NEW", "feed"), ("DocumentsRequested", "DOCS_REQUIRED", "feed"),
        ("DocumentUploaded", "DOCS_UPLOADED", "manual"), ("Rejected", "REJECTED", "staff"),
    ]
    rejected = history.entries[-1]
    assert rejected.actor == STAFF.actor and rejected.details["reviewer"] == STAFF.actor
    assert rejected.source == STAFF.source and rejected.details["note"] == "invoice unreadable"

    paid = device_history(app, PAYABLE_SB3)
    assert paid is not None
    assert [(e.aggregate, e.kind) for e in paid.entries] == [
        ("device", "Registered"), ("payout", "Issued"), ("device", "AddedToPayout"), ("payout", "Confirmed"),
        ("device", "Paid"),
    ]
    assert device_history(app, "3000000000") is None


def test_state_as_of_a_moment_is_rebuilt_from_the_events_up_to_it(store) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = store
    before = device_history(app, SOLD_ABROAD, as_of=T0)
    assert before is not None and before.state is None and before.entries == []
    day1 = device_history(app, SOLD_ABROAD, as_of=T0 + timedelta(hours=1, minutes=30))
    assert day1 is not None and day1.state is not None
    assert day1.state["status"] == "DOCS_REQUIRED" and day1.version_as_of == 2 and day1.versions == 4
    assert day1.state["reviewer"] is None
    day3 = device_history(app, SOLD_ABROAD, as_of=parse_moment("2026-06-03", "Europe/Paris"))
    assert day3 is not None and day3.state is not None
    assert day3.state["status"] == "REJECTED" and day3.state["reviewer"] == STAFF.actor
    paid = device_history(app, PAYABLE_SB3, as_of=T0 + timedelta(days=3, hours=2))
    assert paid is not None and paid.state is not None
    assert paid.state["status"] == "PAYMENT_PENDING" and paid.state["payout_id"]
    assert [p["state"] for p in paid.payouts_as_of.values()] == ["issued"]


def test_parse_moment() -> None:
    assert parse_moment("2026-06-03", "Europe/Paris") == datetime(2026, 6, 3, 23, 59, 59, 999999,
                                                                   tzinfo=parse_moment("2026-06-03T00:00",
                                                                                       "Europe/Paris").tzinfo)
    assert parse_moment("2026-06-03T10:00:00+00:00", "Europe/Paris") == datetime(2026, 6, 3, 10, tzinfo=UTC)


# --- export -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_quoted(value: str) -> None:
    assert csv_safe(value) == "'" + value
    assert csv_safe("plain") == "plain" and csv_safe(5) == 5


def test_export_writes_csv_jsonl_and_a_manifest_that_matches_them(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, clock, _ = store
    app.register_batch([Intake(RegistrationRequest(PAYABLE_SB5[:-1] + "9", SB5, date(2026, 5, 2), ENROLLED),
                               Provenance("=HYPERLINK(\"http://x\")", Channel.MANUAL, "@cmd"))])
    out = tmp_path / "export"
    result = export(app.recorder, CAMPAIGN, out, KEY, now=clock.now())
    manifest = json.loads((out / "manifest.json").read_text())
    rows = list(csv.DictReader((out / "events.csv").open(encoding="utf-8", newline="")))
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert result.events == len(rows) == len(lines) == manifest["events"] == sum(manifest["counts_by_kind"].values())
    for name in ("events.csv", "events.jsonl"):
        assert manifest["files"][name]["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert manifest["counts_by_kind"]["DeviceRegistration.Rejected"] == 2  # refused, and the unknown serial
    assert manifest["first_event_at"] == T0.isoformat()
    forged_actor = [r for r in rows if r["actor"].startswith("'=HYPERLINK")]
    assert forged_actor and forged_actor[0]["source"] == "'@cmd"
    assert [line for line in lines if line["actor"].startswith("=HYPERLINK")]  # JSON keeps the value as is
    heads = manifest["chain_heads"]
    assert heads["count"] == manifest["aggregates"] == len({r["originator_id"] for r in rows})
    assert heads["digest"] == chain.heads_digest((i, v, bytes.fromhex(h)) for i, v, h in heads["heads"])
    newest = {}
    for line in lines:
        newest[line["originator_id"]] = (line["version"], line["chain_hash"])
    assert {i: (v, h) for i, v, h in heads["heads"]} == newest
    # the export alone lets a key holder recompute every chain
    by_id: dict[str, list[RawEvent]] = {}
    for line in lines:
        by_id.setdefault(line["originator_id"], []).append(RawEvent(
            line["notification_id"], line["originator_id"], line["version"], line["topic"],
            line["state"].encode(), bytes.fromhex(line["chain_hash"])))
    assert all(not check_aggregate(KEY, sorted(rs, key=lambda r: r.originator_version)) for rs in by_id.values())


def test_uuid_text_from_hex() -> None:
    u = UUID("12345678-9abc-def0-1234-56789abcdef0")
    assert chain.uuid_text_from_hex(u.hex) == str(u)


# --- read models on SQLite: check and rebuild ---------------------------------------------------------------

def test_projection_check_and_rebuild_on_sqlite(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from projections.db import SQLiteProjectionDB
    from projections.projector import Projector
    from projections.rebuild import check, rebuild

    app, _, _ = store
    db = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    Projector(app, db).catch_up()
    assert check(app, db).ok
    with db.transaction() as cur:
        cur.execute("UPDATE overview SET reason = 'forged' WHERE serial = %s", (PAYABLE_SB3,))
        cur.execute("DELETE FROM payouts")
    report = check(app, db)
    assert report.counts == {"different": 1, "missing": 1}
    different = next(d for d in report.differences if d.kind == "different")
    assert different.key["serial"] == PAYABLE_SB3 and different.columns == {"reason": ("forged", None)}
    reader = SQLiteProjectionDB(tmp_path / "overview.sqlite")  # another connection, reading across the switch
    before = reader.query("SELECT COUNT(*) FROM overview")
    result = rebuild(app, db, "overview")
    assert result.position == app.recorder.max_notification_id()
    assert reader.query("SELECT COUNT(*) FROM overview") == before
    assert check(app, db).ok
    names = {r[0] for r in db.query("SELECT name FROM sqlite_master")}
    assert {"overview_reg", "overview_status"} <= names and not {n for n in names if n.startswith("shadow_")}
    assert db.query("SELECT name, position FROM projection_tracking") == [("overview", result.position)]
    reader.close()
    db.close()


def test_history_shows_docs_required_after_the_first_of_two_documents(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    app = CashbackApp(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
             "PROCESS_RECORDER_TOPIC": "adapters.sqlite_store:CashbackSQLiteRecorder"},
        terms=both_documents_terms(),
        catalog=InMemoryCatalog(CATALOG_ENTRIES), clock=clock,
    )
    app.enrol(ENROLMENTS, Provenance("ops", Channel.STAFF, "companies.csv"))
    app.register_batch([Intake(RegistrationRequest(SOLD_ABROAD, SB3, date(2026, 5, 2), ENROLLED), FEED)])
    installer = Provenance(f"portal:{ENROLLED}", Channel.MANUAL, "document:upload-1")
    clock.advance(hours=1)
    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "cd" * 32, 1000, installer)
    clock.advance(hours=1)
    app.record_upload(SOLD_ABROAD, DocumentKind.COMMISSIONING_REPORT, "ef" * 32, 1000, installer)
    history = device_history(app, SOLD_ABROAD)
    assert history is not None
    assert [(e.kind, e.status_after, e.details.get("missing")) for e in history.entries] == [
        ("Registered", "NEW", None), ("DocumentsRequested", "DOCS_REQUIRED", None),
        ("DocumentUploaded", "DOCS_REQUIRED", ["commissioning_report"]), ("DocumentUploaded", "DOCS_UPLOADED", []),
    ]
    between = device_history(app, SOLD_ABROAD, as_of=T0 + timedelta(hours=1, minutes=30))
    assert between is not None and between.state is not None
    assert (between.state["status"], between.state["documents_missing"]) == ("DOCS_REQUIRED", ["commissioning_report"])

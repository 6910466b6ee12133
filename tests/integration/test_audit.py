"""Audit on real PostgreSQL rows, through the `cashback` command (issue #7).

Each test has its own schema (the ``world`` fixture): devices are registered from a feed file,
paid through a payment run and finance's confirmation, so each device's chain is
Registered (v1), AddedToPayout (v2), Paid (v3). The rows are then tampered with in SQL, as
someone with database access would, and `cashback audit verify` must say what and where.
"""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

import pytest

from domain.ids import registration_id
from tests.integration.conftest import COMPANIES, World

pytestmark = pytest.mark.integration

CAMPAIGN = "fr-2026"
EVENTS = "cashback_events"


def populate(world: World, n: int = 10) -> list[str]:
    serials = world.serials[:n]
    feed = world.tmp / "feed.jsonl"
    feed.write_text("".join(json.dumps(world.record(s, COMPANIES[i % 2])) + "\n" for i, s in enumerate(serials)))
    world.cli("ingest", "feed", str(feed))
    world.cli("payment-run", "--out", str(world.tmp / "payouts.jsonl"))
    world.cli("payouts", "confirm", str(world.tmp / "payouts.jsonl"))
    return serials


def rid(serial: str) -> uuid.UUID:
    return registration_id(CAMPAIGN, serial)


def verify(world: World, *args: str) -> tuple[int, dict[str, Any], str]:
    result = world.cli("audit", "verify", "--format", "json", *args, check=False)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return result.returncode, json.loads(result.stdout), result.stderr


def found(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(f["kind"], f["subject"], f["version"]) for f in report["findings"]}


def test_a_clean_store_verifies_ok(world: World) -> None:
    serials = populate(world)
    versions = world.sql(f"SELECT MAX(originator_version) FROM {EVENTS} WHERE originator_id = %s", (rid(serials[0]),))
    assert versions == [(3,)]
    assert world.sql(f"SELECT COUNT(*) FROM {EVENTS} WHERE chain_hash IS NULL") == [(0,)]
    text = world.cli("audit", "verify")
    assert text.returncode == 0
    assert "OK" in text.stdout and "events/s" in text.stdout
    assert "verify:" in text.stderr and "CASHBACK_AUDIT_KEY is not set" in text.stderr  # progress, key warning
    code, report, _ = verify(world)
    events = world.sql(f"SELECT COUNT(*) FROM {EVENTS}")[0][0]
    assert code == 0 and report["ok"] and report["events"] == events and report["findings"] == []
    # one device's chain only
    code, report, _ = verify(world, "--serial", serials[0])
    assert code == 0 and report["events"] == 3 and report["aggregates"] == 1


def test_events_stored_by_the_feed_worker_verify(world: World) -> None:
    # The Kafka worker hashes in its writer process; the chains must verify like any other.
    world.produce(world.feed(3000))
    worker = world.start_worker("worker", "feed", "--batch-size", "700")
    world.wait_for(lambda: world.stored_feed_records() >= 3000, what="the feed to be stored")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    world.produce(world.feed(300))  # the same devices again (duplicates: nothing new) and a payment run
    world.start_worker("worker", "feed", "--batch-size", "700")
    world.wait_for(lambda: world.stored_feed_records() >= 3300, what="the republished records")
    world.cli("payment-run", "--out", str(world.tmp / "payouts.jsonl"))
    code, report, _ = verify(world)
    assert world.sql(f"SELECT COUNT(DISTINCT originator_id) FROM {EVENTS} WHERE topic LIKE %s",
                     ("%DeviceRegistration%",)) == [(3000,)]
    assert code == 0 and report["ok"] and report["findings"] == []


def test_a_forger_without_the_key_cannot_make_a_chain_that_verifies(world: World) -> None:
    populate(world, 3)
    world.env["CASHBACK_AUDIT_KEY"] = "the production key"
    code, report, stderr = verify(world)
    assert code == 1 and "CASHBACK_AUDIT_KEY is not set" not in stderr
    assert report["counts"] and not report["ok"]


def test_an_edited_payload_is_found(world: World) -> None:
    serials = populate(world)
    world.sql(f"UPDATE {EVENTS} SET state = convert_to(replace(convert_from(state, 'UTF8'), '\"amount_cents\":',"
              " '\"amount_cents\":9'), 'UTF8') WHERE originator_id = %s AND originator_version = 2", (rid(serials[1]),))
    code, report, _ = verify(world)
    assert code == 1
    assert found(report) == {("edited", f"device {serials[1]}", 2)}
    text = world.cli("audit", "verify", check=False)
    assert text.returncode == 1
    assert f"device {serials[1]}" in text.stdout and f"{rid(serials[1])} v2" in text.stdout
    assert "1 problem(s): edited 1" in text.stdout


def test_a_deleted_middle_event_is_found(world: World) -> None:
    serials = populate(world)
    world.sql(f"DELETE FROM {EVENTS} WHERE originator_id = %s AND originator_version = 2", (rid(serials[2]),))
    code, report, _ = verify(world)
    assert code == 1
    assert found(report) == {("deleted", f"device {serials[2]}", 3)}
    assert "version 2 missing" in report["findings"][0]["detail"]


def test_swapped_payloads_and_swapped_versions_are_found(world: World) -> None:
    serials = populate(world)
    # payloads (topic and state) of versions 2 and 3 exchanged, hashes left in place
    world.sql(f"UPDATE {EVENTS} a SET topic = b.topic, state = b.state FROM {EVENTS} b"
              " WHERE a.originator_id = %s AND b.originator_id = a.originator_id"
              " AND a.originator_version IN (2, 3) AND b.originator_version = 5 - a.originator_version",
              (rid(serials[3]),))
    code, report, _ = verify(world)
    assert code == 1
    assert found(report) == {("reordered", f"device {serials[3]}", 2), ("reordered", f"device {serials[3]}", 3)}
    # whole rows renumbered: version 2 becomes 3 and 3 becomes 2
    world.sql(f"UPDATE {EVENTS} SET originator_version = -originator_version"
              " WHERE originator_id = %s AND originator_version IN (2, 3)", (rid(serials[4]),))
    world.sql(f"UPDATE {EVENTS} SET originator_version = CASE originator_version WHEN -2 THEN 3 ELSE 2 END"
              " WHERE originator_id = %s AND originator_version < 0", (rid(serials[4]),))
    code, report, _ = verify(world)
    assert {(k, v) for k, s, v in found(report) if s == f"device {serials[4]}"} == {("reordered", 2), ("reordered", 3)}


def test_inserted_forged_events_are_found(world: World) -> None:
    serials = populate(world)
    # a fourth event appended to a device, with a made-up hash
    world.sql(f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, chain_hash)"
              f" SELECT originator_id, 4, topic, state, decode(repeat('ab', 32), 'hex') FROM {EVENTS}"
              " WHERE originator_id = %s AND originator_version = 3", (rid(serials[5]),))
    # a whole forged device
    forged = json.dumps({"serial": "4999999999", "campaign_id": CAMPAIGN}).encode()
    world.sql(f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, chain_hash)"
              " VALUES (%s, 1, 'domain.registration:DeviceRegistration.Registered', %s, %s)",
              (rid("4999999999"), forged, b"\x00" * 32))
    # an event slipped in between versions 1 and 2 (the later ones renumbered to make room)
    target = rid(serials[6])
    world.sql(f"UPDATE {EVENTS} SET originator_version = originator_version + 100"
              " WHERE originator_id = %s AND originator_version >= 2", (target,))
    world.sql(f"UPDATE {EVENTS} SET originator_version = originator_version - 99"
              " WHERE originator_id = %s AND originator_version > 100", (target,))
    world.sql(f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, chain_hash)"
              " VALUES (%s, 2, 'domain.registration:DeviceRegistration.Paid', %s, NULL)", (target, b"{}"))
    code, report, _ = verify(world)
    assert code == 1
    assert found(report) == {
        ("inserted", f"device {serials[5]}", 4),  # a copy of version 3
        ("edited_or_inserted", "device 4999999999", 1),
        ("unsealed", f"device {serials[6]}", 2),
        ("reordered", f"device {serials[6]}", 3),
        ("reordered", f"device {serials[6]}", 4),
    }


def test_removed_newest_events_are_found_against_an_exports_chain_heads(world: World) -> None:
    serials = populate(world)
    out = world.tmp / "export"
    world.cli("audit", "export", str(out))
    world.sql(f"DELETE FROM {EVENTS} WHERE originator_id = %s AND originator_version = 3", (rid(serials[7]),))
    world.sql(f"DELETE FROM {EVENTS} WHERE originator_id = %s", (rid(serials[8]),))
    code, report, _ = verify(world)
    assert code == 0, "the chain alone cannot see a removed newest event (docs/audit.md)"
    code, report, _ = verify(world, "--heads", str(out / "manifest.json"))
    assert code == 1
    assert {(f["kind"], f["originator_id"], f["version"]) for f in report["findings"]} == {
        ("truncated", str(rid(serials[7])), 3), ("missing_aggregate", str(rid(serials[8])), 3),
    }


def test_history_and_state_as_of_come_from_the_event_store(world: World) -> None:
    serials = populate(world, 4)
    serial = serials[0]
    table = world.cli("audit", "history", serial).stdout
    for kind in ("Registered", "AddedToPayout", "Paid", "payout.Issued", "payout.Confirmed"):
        assert kind in table
    history = json.loads(world.cli("audit", "history", serial, "--format", "json").stdout)
    # in the order they were stored (a payout is saved with its devices, before them)
    assert [(e["aggregate"], e["kind"], e["status_after"]) for e in history["events"]] == [
        ("device", "Registered", "PAYMENT_PENDING"), ("payout", "Issued", "issued"),
        ("device", "AddedToPayout", "PAYMENT_PENDING"), ("payout", "Confirmed", "confirmed"),
        ("device", "Paid", "PAID"),
    ]
    registered = history["events"][0]
    assert registered["channel"] == "feed" and registered["source"].startswith("file:feed.jsonl:")
    assert registered["actor"] == f"portal:{COMPANIES[0]}"
    # the projection is not what the history reads: tamper with it, the history does not move
    world.sql("UPDATE overview SET status = 'REJECTED' WHERE serial = %s", (serial,))
    again = json.loads(world.cli("audit", "history", serial, "--format", "json").stdout)
    assert again["events"][-1]["status_after"] == history["events"][-1]["status_after"]
    before = json.loads(world.cli("audit", "history", serial, "--as-of", "2026-11-30", "--format", "json").stdout)
    assert before["events"] == [] and before["state_as_of"] is None
    now = json.loads(world.cli("audit", "history", serial, "--as-of", "2026-12-01", "--format", "json").stdout)
    assert now["state_as_of"]["status"] == "PAID" and now["version_as_of"] == 3
    rows = world.cli("audit", "history", serial, "--format", "csv").stdout.splitlines()
    assert rows[0].startswith("notification_id,time,aggregate,originator_id,version,kind") and len(rows) == 1 + 5
    missing = world.cli("audit", "history", "4000999999", check=False)
    assert missing.returncode == 1 and "no events" in missing.stderr


def test_export_writes_every_event_with_a_manifest(world: World) -> None:
    populate(world, 6)
    out = world.tmp / "export"
    text = world.cli("audit", "export", str(out)).stdout
    assert "events.csv" in text and "chain heads" in text
    manifest = json.loads((out / "manifest.json").read_text())
    total = world.sql(f"SELECT COUNT(*) FROM {EVENTS}")[0][0]
    assert manifest["events"] == total == sum(manifest["counts_by_kind"].values())
    assert manifest["counts_by_kind"]["DeviceRegistration.Paid"] == 6
    assert manifest["chain_heads"]["count"] == world.sql(f"SELECT COUNT(DISTINCT originator_id) FROM {EVENTS}")[0][0]
    assert len((out / "events.jsonl").read_text().splitlines()) == total

"""Schema evolution: stored rows of the OLD event shapes still load, replay, project and verify.

tests/fixtures/events_v1.json holds raw stored rows (originator_id, originator_version, topic,
state as text) written by the code as it was BEFORE ``DeviceRegistration.Rejected`` became
class_version 2 (it gained ``reviewer``); scripts/make_audit_fixtures.py made them (see its
docstring). They are inserted as stored rows — not through the domain — into a fresh store,
on SQLite and on PostgreSQL, one row per insert so that every later version takes its
previous hash from the table.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from cashback.app import Intake
from cashback.audit import device_history, parse_moment
from cashback.audit_chain import verify
from cashback.bootstrap import Engine, build
from cashback.clock import FixedClock
from cashback.event_rows import stream_events
from cashback.settings import Settings
from domain.decision import RegistrationRequest
from domain.enrolment import Enrolment
from domain.provenance import Channel, Provenance
from domain.registration import DeviceRegistration
from projections.rebuild import check

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "events_v1.json"
ALICE = "alice@maker.example"


def rows() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    common = {"campaign_file": ROOT / "examples" / "campaign.toml",
              "catalog_file": ROOT / "tests" / "fixtures" / "audit_catalog.csv", "data_dir": tmp_path / "data"}
    clock = FixedClock(datetime(2026, 7, 1, 9, tzinfo=UTC))
    if request.param == "sqlite":
        eng = build(Settings(store="sqlite", **common), clock=clock)
        yield eng
        eng.close()
        return
    dsn = os.environ.get("CASHBACK_PG_DSN") or pytest.fail("CASHBACK_PG_DSN is not set (scripts/services.sh env)")
    schema = f"t_fixtures_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    eng = build(Settings(store="postgres", pg_dsn=dsn, pg_schema=schema, **common), clock=clock)
    try:
        yield eng
    finally:
        eng.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def insert_raw(eng: Engine) -> None:
    for row in rows():
        eng.app.recorder.insert_events([StoredEvent(
            originator_id=uuid.UUID(row["originator_id"]), originator_version=row["originator_version"],
            topic=row["topic"], state=row["state"].encode("utf-8"),
        )])


def test_the_fixture_is_of_the_old_shape() -> None:
    rejected = [json.loads(r["state"]) for r in rows() if r["topic"].endswith(".Rejected")]
    assert len(rejected) == 3
    assert all("reviewer" not in s and "class_version" not in s for s in rejected)
    assert DeviceRegistration.Rejected.class_version == 2


def test_old_rows_load_upcast_replay_and_verify(engine: Engine) -> None:
    insert_raw(engine)
    app = engine.app
    stored = list(stream_events(app.recorder, "aggregate"))
    assert len(stored) == len(rows())
    # load: every stored row becomes a domain event; version 1 Rejected gets its reviewer
    events = [app.mapper.to_domain_event(StoredEvent(uuid.UUID(r.originator_id), r.originator_version, r.topic,
                                                     bytes(r.state))) for r in stored]
    reviewers = sorted((e.reason, e.reviewer) for e in events if isinstance(e, DeviceRegistration.Rejected))
    assert reviewers == [("DOCS_NOT_PROVIDED", ""), ("DOCS_REFUSED", ALICE), ("UNKNOWN_SERIAL", "")]

    # verify: the recorder sealed each row, taking the previous hash from the table
    report = verify(stream_events(app.recorder, "aggregate"), app.recorder.chain_key)
    assert report.ok and report.events == 18 and report.aggregates == 8

    # replay: history and state as of a moment, from the event store
    refused = device_history(app, "3100000002")
    assert refused is not None
    assert [(e.kind, e.status_after, e.channel) for e in refused.entries] == [
        ("Registered", "NEW", "feed"), ("DocumentsRequested", "DOCS_REQUIRED", "feed"),
        ("DocumentUploaded", "DOCS_UPLOADED", "manual"), ("Rejected", "REJECTED", "staff"),
    ]
    assert refused.entries[0].source == "kafka:portal.device-registrations.v1:1@11"
    assert refused.entries[-1].details["reviewer"] == ALICE
    day2 = device_history(app, "3100000002", as_of=parse_moment("2026-06-02", "Europe/Paris"))
    assert day2 is not None and day2.state is not None
    assert day2.state["status"] == "DOCS_REQUIRED" and day2.state["deadline"] == "2026-06-15"
    later = device_history(app, "3100000002", as_of=parse_moment("2026-06-03T15:00:00", "Europe/Paris"))
    assert later is not None and later.state is not None
    assert (later.state["status"], later.state["reason"]) == ("REJECTED", "DOCS_REFUSED")
    assert later.state["reviewer"] == ALICE
    expired = device_history(app, "3100000003")
    assert expired is not None
    assert expired.entries[-1].details == {"reason": "DOCS_NOT_PROVIDED", "note": "", "reviewer": ""}
    typo = device_history(app, "3199999999")
    assert typo is not None and [e.kind for e in typo.entries] == ["Registered", "Rejected"]
    assert typo.entries[-1].source == "excel:upload-7f3a:row 4" and typo.entries[-1].status_after == "REJECTED"
    claimed = device_history(app, "3100000004")
    assert claimed is not None and claimed.entries[-1].details["customer_no"] == "200002"
    paid = device_history(app, "3100000001", payouts=False)
    assert paid is not None and [e.status_after for e in paid.entries] == ["PAYMENT_PENDING"] * 2 + ["PAID"]

    # new events are written in the new shape, beside the old ones, and the chain still holds
    # (the raw rows brought no side rows: the company's row comes back with a contact change)
    app.enrol([Enrolment(customer_no="200001", name="Soleil SARL", contact_email="new@soleil.example",
                         enrolled_on=date(2026, 1, 5))], Provenance("ops", Channel.STAFF, "companies.csv"))
    app.register_batch([Intake(RegistrationRequest("3188888888", "SB3.0-1AV-41", date(2026, 6, 20), "200001"),
                               Provenance("portal:200001", Channel.FEED, "kafka:portal.device-registrations.v1:0@99"))])
    newest = [r for r in stream_events(app.recorder, "notification")][-1]
    state = json.loads(bytes(newest.state))
    assert newest.topic.endswith(".Rejected") and state["class_version"] == 2 and state["reviewer"] == ""
    assert verify(stream_events(app.recorder, "aggregate"), app.recorder.chain_key).ok


def test_old_rows_project_and_replay_with_their_payouts(engine: Engine) -> None:
    insert_raw(engine)
    projector = engine.projector()
    assert projector.catch_up() == 18
    overview = {r[0]: r[1:] for r in engine.read_db.query("SELECT serial, status, reason FROM overview"
                                                          " WHERE is_owner = 1")}
    assert overview == {
        "3100000001": ("PAID", None), "3100000002": ("REJECTED", "DOCS_REFUSED"),
        "3100000003": ("REJECTED", "DOCS_NOT_PROVIDED"), "3100000004": ("PAYMENT_PENDING", None),
        "3199999999": ("REJECTED", "UNKNOWN_SERIAL"),
    }
    assert engine.read_db.query("SELECT state FROM payouts") == [("confirmed",)]
    assert check(engine.app, engine.read_db).ok
    paid = device_history(engine.app, "3100000001")
    assert paid is not None and [e.kind for e in paid.entries if e.aggregate == "payout"] == ["Issued", "Confirmed"]

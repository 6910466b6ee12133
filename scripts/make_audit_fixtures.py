"""Write tests/fixtures/events_v1.json: raw stored rows of a small campaign, in the shape of the
code this script runs against.

The committed fixture was produced BEFORE ``DeviceRegistration.Rejected`` became class_version 2
(it gained ``reviewer``), by running this script on an export of that commit:

    git archive <commit> | tar -x -C /tmp/old && cp scripts/make_audit_fixtures.py /tmp/old/scripts/
    cd /tmp/old && python scripts/make_audit_fixtures.py OUT.json

Rows: originator_id, originator_version, topic, state (the stored JSON as text), in insertion order.
The catalog the scenario uses is tests/fixtures/audit_catalog.csv; the campaign is examples/campaign.toml.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.campaign_file import load_terms  # noqa: E402
from cashback.app import CashbackApp, Intake  # noqa: E402
from cashback.clock import FixedClock  # noqa: E402
from domain.catalog import CatalogEntry, InMemoryCatalog  # noqa: E402
from domain.decision import RegistrationRequest  # noqa: E402
from domain.enrolment import Enrolment  # noqa: E402
from domain.ids import registration_id  # noqa: E402
from domain.provenance import Channel, Provenance  # noqa: E402
from domain.terms import DocumentKind  # noqa: E402

CATALOG = [
    CatalogEntry("3100000001", "SB3.0-1AV-41", date(2025, 11, 3), "FR"),  # paid in the end
    CatalogEntry("3100000002", "SB5.0-1AV-41", date(2025, 10, 1), "DE"),  # documents, refused by staff
    CatalogEntry("3100000003", "SB3.0-1AV-41", date(2025, 10, 1), "BE"),  # documents, never sent: expired
    CatalogEntry("3100000004", "STP10.0-3AV-40", date(2025, 10, 1), "FR"),  # claimed by a second company
]
UNKNOWN = "3199999999"  # never produced: rejected at registration


def write_catalog(path: Path) -> None:
    lines = ["serial,device_type,production_date,country_of_sale"]
    lines += [f"{e.serial},{e.device_type},{e.production_date.isoformat()},{e.country_of_sale}" for e in CATALOG]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(out: Path) -> None:
    clock = FixedClock(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.sqlite"
        app = CashbackApp(
            env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db),
                 "PROCESS_RECORDER_TOPIC": "adapters.sqlite_store:CashbackSQLiteRecorder"},
            terms=load_terms(ROOT / "examples" / "campaign.toml"),
            catalog=InMemoryCatalog(CATALOG),
            clock=clock,
        )
        ops = Provenance("ops@maker.example", Channel.STAFF, "companies.csv")
        app.enrol([
            Enrolment(customer_no="200001", name="Soleil SARL", contact_email="a@soleil.example",
                      enrolled_on=date(2026, 1, 5)),
            Enrolment(customer_no="200002", name="Watt & Co", contact_email="b@watt.example",
                      enrolled_on=date(2026, 2, 1)),
        ], ops)

        def feed(serial: str, device_type: str, company: str, partition: int, offset: int) -> None:
            request = RegistrationRequest(serial, device_type, date(2026, 5, 20), company)
            source = f"kafka:portal.device-registrations.v1:{partition}@{offset}"
            by = Provenance(f"portal:{company}", Channel.FEED, source)
            app.register_batch([Intake(request, by)])

        clock.advance(hours=1)  # 09:00
        feed("3100000001", "SB3.0-1AV-41", "200001", 0, 10)
        feed("3100000002", "SB5.0-1AV-41", "200001", 1, 11)
        feed("3100000003", "SB3.0-1AV-41", "200001", 2, 12)
        feed("3100000004", "STP10.0-3AV-40", "200001", 3, 13)
        clock.advance(hours=1)  # 10:00: an Excel upload with a typo, rejected at once
        excel = Provenance("portal:200002", Channel.EXCEL, "excel:upload-7f3a:row 4")
        app.register_batch([Intake(RegistrationRequest(UNKNOWN, "SB3.0-1AV-41", date(2026, 5, 2), "200002"), excel)])
        clock.advance(days=1)  # next day: the second company claims a serial already owned
        feed("3100000004", "STP10.0-3AV-40", "200002", 3, 57)
        clock.advance(days=1)
        app.record_upload("3100000002", DocumentKind.INVOICE, "ab" * 32, 48213,
                          Provenance("portal:200001", Channel.MANUAL, "document:" + "ab" * 32))
        clock.advance(hours=3)
        app.reject("3100000002", "invoice is for another device",
                   Provenance("alice@maker.example", Channel.STAFF, "review:refused"))
        clock.advance(days=20)  # the document window of 3100000003 passed
        app.expire([registration_id(app.terms.id, "3100000003")],
                   Provenance("deadlines", Channel.SYSTEM, "deadlines:2026-06-23"))
        clock.advance(days=1)
        run = "run-20260624T080000-fixture"
        payouts = app.payment_run([registration_id(app.terms.id, "3100000001")], run,
                                  Provenance("payment-run", Channel.SYSTEM, run))
        clock.advance(days=2)
        app.settle_payout(payouts[0].id, "confirmed", Provenance("finance", Channel.FINANCE,
                                                                 "kafka:payout-results.v1:0@3"), reference="BANK-REF-1")
        app.close()
        conn = sqlite3.connect(db)
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
        ).fetchall()
        conn.close()
    data = [
        {"originator_id": str(uuid.UUID(r[0])), "originator_version": r[1], "topic": r[2],
         "state": bytes(r[3]).decode("utf-8")}
        for r in rows
    ]
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_catalog(out.parent / "audit_catalog.csv")
    print(f"{len(data)} rows written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "events_v1.json")

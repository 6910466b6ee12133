"""`cashback projections check` and `rebuild` on real PostgreSQL (issue #7).

check: the projection rebuilt from zero into shadow tables equals the live one, row by row, and
any tampering with a live row is reported with its key and columns. rebuild: the portal keeps
reading while the shadow tables are built and switched in, and a projector worker writing at the
same time carries on from the switched-in position.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from projections import queries
from projections.db import PostgresProjectionDB
from tests.integration.conftest import COMPANIES, World

pytestmark = pytest.mark.integration

CAMPAIGN = "fr-2026"


def ingest(world: World, serials: list[str], name: str) -> None:
    feed = world.tmp / name
    feed.write_text("".join(json.dumps(world.record(s, COMPANIES[i % 4])) + "\n" for i, s in enumerate(serials)))
    world.cli("ingest", "feed", str(feed))


def check(world: World) -> tuple[int, list[dict[str, object]]]:
    result = world.cli("projections", "check", "--format", "json", check=False)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    [report] = json.loads(result.stdout)
    return result.returncode, report["differences"]


def test_check_reports_a_tampered_live_row_and_rebuild_repairs_it_while_the_portal_reads(world: World) -> None:
    serials = world.serials[:1500]
    ingest(world, serials, "feed.jsonl")
    world.cli("payment-run")
    world.cli("project")
    text = world.cli("projections", "check")
    assert "same as a rebuild from zero" in text.stdout and text.returncode == 0

    # tamper: a status changed, a row removed, a row added, a payout total changed
    world.sql("UPDATE overview SET status = 'PAID', amount_cents = 1 WHERE serial = %s", (serials[0],))
    world.sql("DELETE FROM overview WHERE serial = %s", (serials[1],))
    world.sql("INSERT INTO overview (campaign_id, customer_no, serial, registration_id, is_owner, device_type,"
              " status, amount_cents, registered_at, updated_at, channel, source)"
              " VALUES (%s, '200001', '4999999999', 'x', 1, 'HM-20', 'PAID', 2500, 'now', 'now', 'feed', 'forged')",
              (CAMPAIGN,))
    world.sql("UPDATE payouts SET total_cents = total_cents + 100 WHERE customer_no = %s", (COMPANIES[0],))
    code, differences = check(world)
    assert code == 1
    summary = {(d["table"], d["kind"], d["key"].get("serial") or (d["key"].get("payout_id") and "payout"))
               for d in differences}
    assert summary == {("overview", "different", serials[0]), ("overview", "missing", serials[1]),
                       ("overview", "extra", "4999999999"), ("payouts", "different", "payout")}
    changed = next(d for d in differences if d["kind"] == "different" and d["table"] == "overview")
    assert changed["columns"]["status"] == {"live": "PAID", "rebuilt": "PAYMENT_PENDING"}
    assert set(changed["columns"]) == {"status", "amount_cents"} and changed["columns"]["amount_cents"]["live"] == 1
    text = world.cli("projections", "check", check=False).stdout
    assert f"different [campaign_id={CAMPAIGN}, customer_no=200001, serial={serials[0]}] status: live='PAID'" in text

    # the portal reads all along: same answers, never an error
    company = COMPANIES[2]  # untouched by the tampering above
    expected = queries.totals(PostgresProjectionDB(world.pg_dsn, world.schema), CAMPAIGN, company).count
    errors: list[BaseException] = []
    answers: list[int] = []
    stop = threading.Event()

    def read() -> None:
        db = PostgresProjectionDB(world.pg_dsn, world.schema)
        try:
            while not stop.is_set():
                try:
                    rows = queries.overview(db, CAMPAIGN, company, limit=20)
                    answers.append(queries.totals(db, CAMPAIGN, company).count)
                    assert len(rows) == 20
                except BaseException as error:
                    errors.append(error)
        finally:
            db.close()

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    started = len(answers)
    rebuilt = world.cli("projections", "rebuild", "overview")
    during = len(answers) - started
    time.sleep(0.3)
    stop.set()
    reader.join(30)
    assert errors == []
    assert during > 20, f"the reader answered only {during} times during the rebuild"
    assert set(answers) == {expected}
    assert "switched in" in rebuilt.stdout

    code, differences = check(world)
    assert code == 0 and differences == []
    # the switched-in tables have the live names, indexes and constraints, and a second rebuild works
    indexes = {r[0] for r in world.sql("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
    assert {"overview_pkey", "overview_reg", "overview_status", "payouts_pkey"} <= indexes
    assert not {i for i in indexes if i.startswith("shadow_")}
    world.cli("projections", "rebuild", "overview")
    assert check(world) == (0, [])


def test_a_rebuild_beside_a_running_projector_and_new_events_loses_nothing(world: World, tmp_path: Path) -> None:
    ingest(world, world.serials[:2000], "first.jsonl")
    world.cli("project")
    world.start_worker("worker", "projector", name="projector")
    feeder = threading.Thread(target=ingest, args=(world, world.serials[2000:3000], "second.jsonl"))
    feeder.start()
    world.cli("projections", "rebuild", "overview")
    feeder.join(300)
    head = world.sql("SELECT MAX(notification_id) FROM cashback_events")[0][0]
    world.wait_for(lambda: world.sql("SELECT position FROM projection_tracking WHERE name = 'overview'")[0][0] == head,
                   what="the projector to reach the head")
    world.stop_all()
    assert world.sql("SELECT COUNT(*) FROM overview WHERE is_owner = 1")[0][0] == 3000
    assert check(world) == (0, [])

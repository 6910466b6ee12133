"""What an auditor reads for each channel: the source reference of a workbook row and of a hand
registration, and a campaign that is not the configured one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import ROOT, cashback_on_sqlite


def test_history_names_the_workbook_row_and_the_hand_registration(tmp_path: Path) -> None:
    cb = cashback_on_sqlite(tmp_path / "data")
    cb("enrol", str(ROOT / "examples" / "companies.csv"))
    out = cb("ingest", "excel", str(ROOT / "examples" / "workbook.xlsx"), "--company", "100000").stdout
    upload = out.rsplit("upload id ", 1)[1].split()[0]
    row3 = next(line for line in out.splitlines() if line.startswith("row     3 "))
    serial = row3.split()[2]
    (event,) = json.loads(cb("audit", "history", serial, "--format", "json").stdout)["events"]
    assert (event["channel"], event["source"], event["actor"]) == ("excel", f"excel:{upload}:row 3", "cli:100000")

    cb("register", "--company", "100037", "--serial", "3229477322", "--type", "STP10.0-3AV-40",
        "--installed-on", "2026-05-19")
    (hand,) = json.loads(cb("audit", "history", "3229477322", "--format", "json").stdout)["events"]
    assert hand["channel"] == "manual" and hand["source"].startswith("cli:") and hand["actor"] == "cli:100037"

    other = cb("audit", "history", serial, "--campaign", "de-2026", code=1)
    assert "de-2026" in other.stderr and "Traceback" not in other.stderr

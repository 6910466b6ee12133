"""What an auditor reads for each channel: the source reference of a workbook row and of a hand
registration, and a campaign that is not the configured one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-12-01T09:00:00+01:00"


def _cb(tmp_path: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"CASHBACK_STORE": "sqlite", "CASHBACK_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "cashback.cli", "--now", NOW, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert (result.returncode == 0) is ok, result.stderr[-2000:]
    return result


def test_history_names_the_workbook_row_and_the_hand_registration(tmp_path: Path) -> None:
    _cb(tmp_path, "enrol", str(ROOT / "examples" / "companies.csv"))
    out = _cb(tmp_path, "ingest", "excel", str(ROOT / "examples" / "workbook.xlsx"), "--company", "100000").stdout
    upload = out.rsplit("upload id ", 1)[1].split()[0]
    row3 = next(line for line in out.splitlines() if line.startswith("row     3 "))
    serial = row3.split()[2]
    (event,) = json.loads(_cb(tmp_path, "audit", "history", serial, "--format", "json").stdout)["events"]
    assert (event["channel"], event["source"], event["actor"]) == ("excel", f"excel:{upload}:row 3", "cli:100000")

    _cb(tmp_path, "register", "--company", "100037", "--serial", "3229477322", "--type", "STP10.0-3AV-40",
        "--installed-on", "2026-05-19")
    (hand,) = json.loads(_cb(tmp_path, "audit", "history", "3229477322", "--format", "json").stdout)["events"]
    assert hand["channel"] == "manual" and hand["source"].startswith("cli:") and hand["actor"] == "cli:100037"

    other = _cb(tmp_path, "audit", "history", serial, "--campaign", "de-2026", ok=False)
    assert "de-2026" in other.stderr and "Traceback" not in other.stderr

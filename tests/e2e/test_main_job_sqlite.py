"""The main job on the embedded default, through the `cashback` command, as an operator runs it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import ROOT


def _counts(text: str) -> dict[str, int]:
    return {k.strip(): int(v) for k, v in re.findall(r"^\s*([a-z -]+):\s+(\d+)", text, re.M)}


def test_feed_file_counts_add_up_and_a_replay_changes_nothing(cb) -> None:  # type: ignore[no-untyped-def]
    first = _counts(cb("ingest", "feed", str(ROOT / "examples/feed.jsonl")).stdout)
    parts = ["registered", "duplicates", "claims refused", "parked", "dead-lettered", "blank lines skipped"]
    assert sum(first[p] for p in parts) == first["lines read"] == 20314
    assert first["registered"] > 15000 and first["dead-lettered"] > 100 and first["parked"] > 1000
    before = cb("stats").stdout
    second = _counts(cb("ingest", "feed", str(ROOT / "examples/feed.jsonl")).stdout)
    assert second["registered"] == 0
    assert second["duplicates"] == first["registered"] + first["duplicates"] + first["parked"]
    assert second["parked"] == 0
    assert cb("stats").stdout == before
    parked_rows = re.search(r"parked records: (\d+)", cb("inspect", "parked").stdout)
    assert parked_rows and int(parked_rows.group(1)) == first["parked"]  # republished parked records counted once


def test_workbook_rows_get_verdicts_and_a_reupload_changes_nothing(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = cb("ingest", "excel", str(ROOT / "examples/workbook.xlsx"), "--company", "100000",
             "--verdicts", str(tmp_path / "v.csv")).stdout
    assert re.search(r"row\s+33\s+3999999999\s+REJECTED\s+UNKNOWN_SERIAL", out)
    assert re.search(r"row\s+34 .*ERROR .*Date d'installation : '31/02/2026' n'est pas une date valide "
                     r"\(attendu jj/mm/aaaa\)", out)
    assert re.search(r"row\s+35 .*ERROR .*Numéro de série : '.*' est un doublon de la ligne 3", out)
    assert re.search(r"DOCS_REQUIRED .*documents à fournir au plus tard le \d\d/\d\d/\d{4} : facture", out)
    assert re.search(r"row\s+36 .*REJECTED\s+TYPE_MISMATCH", out)
    assert "row    13 " not in out  # the blank row is skipped, the numbering is the sheet's
    assert "PAYMENT_PENDING" in out and "DOCS_REQUIRED" in out
    status_before = cb("status", "--company", "100000", "--limit", "100", "--format", "json").stdout
    again = cb("ingest", "excel", str(ROOT / "examples/workbook.xlsx"), "--company", "100000").stdout
    assert "déjà enregistré" in again
    assert cb("status", "--company", "100000", "--limit", "100", "--format", "json").stdout == status_before
    verdicts = (tmp_path / "v.csv").read_text(encoding="utf-8-sig").splitlines()
    assert verdicts[0] == "Ligne;Numéro de série;Statut;Code statut;Motif;Message"
    assert any(line.startswith("33;3999999999;Enregistrement impossible – l'appareil ") and ";REJECTED;UNKNOWN_SERIAL;"
               in line for line in verdicts)


def test_a_bad_file_gets_a_clear_error(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "fake.xlsx"
    fake.write_text("serial;type\n123;abc\n")
    result = cb("ingest", "excel", str(fake), "--company", "100000", code=None)
    assert result.returncode == 2 and "ce n'est pas un classeur Excel .xlsx" in result.stderr
    result = cb("ingest", "excel", str(ROOT / "examples/workbook.xlsx"), "--company", "424242", code=None)
    assert "not enrolled" in result.stderr


def test_payment_run_pays_each_device_once(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cb("ingest", "feed", str(ROOT / "examples/feed.jsonl"))
    payouts = tmp_path / "payouts.jsonl"
    first = cb("payment-run", "--out", str(payouts)).stdout
    devices = int(re.search(r"devices: (\d+)", first).group(1))  # type: ignore[union-attr]
    assert devices > 10000
    assert "payouts issued: 0" in cb("payment-run").stdout
    assert "applied: 50" in cb("payouts", "confirm", str(payouts)).stdout
    assert "already answered (no money changed): 50" in cb("payouts", "confirm", str(payouts)).stdout
    stats = cb("stats").stdout
    assert re.search(rf"PAID\s+{devices}\b", stats)
    assert "PAYMENT_PENDING" not in stats

"""`cashback demo` (what `make run` runs) on a fresh folder: it ends well and its figures add up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_the_main_job_and_its_counts_add_up(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cashback.cli", "demo", "--data-dir", str(tmp_path / "run")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    feed = {k: int(v) for k, v in re.findall(r"^\s*(lines read|registered|duplicates|claims refused|parked|"
                                             r"dead-lettered):\s+(\d+)", out, re.M)}
    assert feed["lines read"] == 20314
    assert sum(v for k, v in feed.items() if k != "lines read") == feed["lines read"]

    workbook = re.findall(r"^rows: (\d+) \(([^)]*)\)", out, re.M)
    assert len(workbook) == 2 and workbook[0] == workbook[1]  # the re-upload gives the same verdicts
    rows, verdicts = int(workbook[0][0]), dict(re.findall(r"(\w+): (\d+)", workbook[0][1]))
    assert rows >= 500 and sum(int(v) for v in verdicts.values()) == rows
    assert {"PAYMENT_PENDING", "DOCS_REQUIRED", "REJECTED", "ERROR"} <= set(verdicts)
    assert "ALREADY_CLAIMED" in out  # devices that also came through the feed, for another company

    stats = re.findall(r"^campaign fr-2026: (\d+) devices.*\n((?:  [A-Z_]+ +\d+\n)+)", out, re.M)
    assert len(stats) == 2
    for total, lines in stats:
        assert sum(int(n) for n in re.findall(r"(\d+)\n", lines)) == int(total)
    paid = int(re.search(r"devices: (\d+), total", out).group(1))  # type: ignore[union-attr]
    assert re.search(rf"^  PAID +{paid}$", stats[1][1], re.M)
    assert "PAYMENT_PENDING" not in stats[1][1]
    assert "payouts issued: 0, devices: 0" in out  # a second run pays nothing
    assert "Enregistrement réussi, paiement en attente" in out
    assert (tmp_path / "run" / "verdicts.xlsx").is_file()


def test_the_demo_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "important.txt").write_text("keep")
    result = subprocess.run([sys.executable, "-m", "cashback.cli", "demo", "--data-dir", str(precious)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not made by `cashback demo`" in result.stderr
    assert (precious / "important.txt").read_text() == "keep" and (precious / "sub").is_dir()

"""What an operator sees when a command is given the wrong file or value: a plain error and exit 2, no traceback,
nothing stored. Through the `cashback` command on the embedded default, as in test_main_job_sqlite."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

WORKBOOK = ROOT / "examples/workbook.xlsx"




def _devices(cb) -> int:  # type: ignore[no-untyped-def]
    return int(re.search(r": (\d+) devices", cb("stats").stdout).group(1))  # type: ignore[union-attr]


def _dead_letters(cb) -> int:  # type: ignore[no-untyped-def]
    return int(re.search(r"dead letters: (\d+)", cb("inspect", "dead-letters").stdout).group(1))  # type: ignore[union-attr]


def _counts(text: str) -> dict[str, int]:
    return {k.strip(): int(v) for k, v in re.findall(r"^\s*([a-z -]+):\s+(\d+)", text, re.M)}


# --- audit verify --heads -------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "why"), [
    ("garbage, not JSON\n", "not JSON"),
    ("{}", "chain_heads"),
    ("[1, 2]", "chain_heads"),
    ('{"chain_heads": {"heads": [["id", "one", "ab"]]}}', "a chain head is not"),
    ('{"chain_heads": {"heads": [["id", 1]]}}', "a chain head is not"),
])
def test_a_heads_file_that_is_no_manifest_is_a_usage_error_not_tampering(cb, tmp_path: Path, content: str,  # type: ignore[no-untyped-def]
                                                                          why: str) -> None:
    heads = tmp_path / "manifest.json"
    heads.write_text(content, encoding="utf-8")
    result = cb("audit", "verify", "--heads", str(heads), code=2)
    assert f"error: {heads} is not an audit manifest (" in result.stderr and why in result.stderr


def test_a_real_manifest_still_verifies(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cb("ingest", "feed", str(ROOT / "examples/feed.jsonl"))
    cb("audit", "export", str(tmp_path / "export"))
    assert ": OK" in cb("audit", "verify", "--heads", str(tmp_path / "export")).stdout


# --- ingest excel --verdicts ----------------------------------------------------------------------


def test_unwritable_verdicts_are_refused_before_any_row_is_ingested(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cb("ingest", "excel", str(WORKBOOK), "--company", "100000", "--verdicts", "/nonexistent/v.xlsx", code=2)
    assert "--verdicts /nonexistent/v.xlsx: cannot write there" in result.stderr
    assert "nothing was ingested" in result.stderr and "row " not in result.stdout
    result = cb("ingest", "excel", str(WORKBOOK), "--company", "100000", "--verdicts", str(tmp_path), code=2)
    assert "it is a folder" in result.stderr
    result = cb("ingest", "excel", str(WORKBOOK), "--company", "100000", "--verdicts", "/proc/v.xlsx", code=2)
    assert "nothing was ingested" in result.stderr  # a folder that exists but takes no files
    assert _devices(cb) == 0
    fine = tmp_path / "v.xlsx"
    cb("ingest", "excel", str(WORKBOOK), "--company", "100000", "--verdicts", str(fine))
    assert fine.stat().st_size > 0


def test_verdicts_over_the_workbook_itself_are_refused(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    workbook = tmp_path / "mine.xlsx"
    shutil.copy(WORKBOOK, workbook)
    result = cb("ingest", "excel", str(workbook), "--company", "100000", "--verdicts", str(workbook), code=2)
    assert "it is the workbook being ingested" in result.stderr
    assert workbook.read_bytes() == WORKBOOK.read_bytes() and _devices(cb) == 0


# --- ingest feed ----------------------------------------------------------------------------------


def test_the_feed_summary_adds_up_to_the_lines_of_the_file_blank_ones_too(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = (ROOT / "examples/feed.jsonl").read_bytes().splitlines()[:30]
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([*records[:10], b"", b"  \t ", *records[10:], b"\r"]) + b"\n")
    result = cb("ingest", "feed", str(feed))
    counts = _counts(result.stdout)
    parts = ["registered", "duplicates", "claims refused", "parked", "dead-lettered", "blank lines skipped"]
    assert counts["blank lines skipped"] == 3
    assert sum(counts[p] for p in parts) == counts["lines read"] == len(feed.read_bytes().splitlines()) == 33
    assert "33/33" in result.stderr  # the progress total is the same count


def test_a_binary_file_is_refused_by_ingest_feed(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cb("ingest", "feed", str(WORKBOOK), code=2)
    assert f"error: {WORKBOOK} is not a JSON Lines text file (it is a zip archive" in result.stderr
    noise = tmp_path / "noise.jsonl"
    noise.write_bytes(bytes(range(256)) * 40)
    assert "not a JSON Lines text file" in cb("ingest", "feed", str(noise), code=2).stderr
    assert _devices(cb) == 0 and _dead_letters(cb) == 0


def test_a_few_bad_lines_among_good_ones_still_go_through(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = (ROOT / "examples/feed.jsonl").read_bytes().splitlines()[:20]
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([*records[:5], b"caf\xe9 \x01 broken", b"{not json", *records[5:]]) + b"\n")
    counts = _counts(cb("ingest", "feed", str(feed)).stdout)
    assert counts["lines read"] == 22 and counts["dead-lettered"] >= 2 and counts["registered"] > 0
    assert _dead_letters(cb) == counts["dead-lettered"]


# --- payouts confirm ------------------------------------------------------------------------------


def test_payouts_confirm_names_a_file_that_is_not_utf8(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results = tmp_path / "latin1-results.jsonl"
    results.write_bytes(b'{"payout_id": "caf\xe9"}\n')
    result = cb("payouts", "confirm", str(results), code=2)
    assert f"error: {results} is not UTF-8 text" in result.stderr and "nothing was applied" in result.stderr


def test_payouts_confirm_says_which_file_had_unreadable_lines(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results = tmp_path / "results.jsonl"
    results.write_text('not json\n{"payout_id": "x"}\n', encoding="utf-8")
    result = cb("payouts", "confirm", str(results), code=3)
    assert "unreadable lines: 2" in result.stdout
    assert f"2 lines of {results} could not be read and were not applied" in result.stderr
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(e["event"], e["line"]) for e in logged] == [("payout_result_invalid", 1), ("payout_result_invalid", 2)]
    assert _dead_letters(cb) == 0  # as docs/payouts.md says: counted and logged, not dead-lettered


# --- small validations ----------------------------------------------------------------------------


@pytest.mark.parametrize("now", ["", "  ", "yesterday"])
def test_an_empty_or_invalid_now_is_refused(cb, now: str) -> None:  # type: ignore[no-untyped-def]
    assert "error: --now" in cb("stats", now=now, code=2).stderr


def test_an_unknown_outbox_status_is_refused(cb) -> None:  # type: ignore[no-untyped-def]
    result = cb("notifications", "list", "--status", "bogus", code=2)
    assert "--status 'bogus' is not an outbox status; use one of pending, sent, skipped" in result.stderr
    assert "outbox: empty" in cb("notifications", "list", "--status", "sent").stdout


@pytest.mark.parametrize("command", [
    ["inspect", "parked"], ["inspect", "dead-letters"], ["notifications", "list"], ["status", "--company", "100000"],
])
def test_a_negative_limit_is_refused(cb, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert "--limit" in cb(*command, "--limit", "-5", code=2).stderr
    cb(*command, "--limit", "0")
